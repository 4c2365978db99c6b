"""VGG of supplement F: the first two stages of VGG model A, no dropout, 1024 hidden units.

Stage 1: conv3x3(64) + BN + ReLU, max-pool 2; stage 2: conv3x3(128) + BN + ReLU, max-pool 2
(28 -> 14 -> 7). Then flatten -> Linear(1024) -> ReLU -> Linear(1024) -> ReLU -> Linear(n_classes).
Dropout is left out on purpose: randomisation can mask gradients and distort robustness (the
paper, supplement F). BN after each conv follows the authors' code.
"""
from __future__ import annotations

from torch import nn

from raysweep.models._registry import MODELS, init_weights, scaled


class VGGClassifier(nn.Module):
    def __init__(self, in_shape: tuple[int, int, int], n_classes: int, stages: tuple[int, ...] = (64, 128),
                 hidden: int = 1024, width: float = 1.0, init: str = "glorot"):
        super().__init__()
        c, h, w = in_shape
        layers: list[nn.Module] = []
        in_c = c
        for out in stages:
            out_c = scaled(out, width)
            layers += [nn.Conv2d(in_c, out_c, 3, padding=1), nn.BatchNorm2d(out_c), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            in_c = out_c
            h, w = h // 2, w // 2
        self.features = nn.Sequential(*layers)
        units = scaled(hidden, width)
        self.head = nn.Sequential(
            nn.Flatten(),  # [B, in_c * h * w]: 128 * 7 * 7 for 28x28
            nn.Linear(in_c * h * w, units), nn.ReLU(inplace=True),
            nn.Linear(units, units), nn.ReLU(inplace=True),
            nn.Linear(units, n_classes),
        )
        init_weights(self, init)

    def forward(self, x):
        return self.head(self.features(x))


@MODELS.register("vgg", "VGG (supplement F): 2 stages of model A (64, 128) + BN, FC 1024x2, no dropout")
def vgg(in_shape: tuple[int, int, int], n_classes: int, **kw) -> nn.Module:
    return VGGClassifier(in_shape, n_classes, **kw)
