"""ResNet-13 of supplement F (He et al.), sized for 28x28 inputs.

A 3x3 stem conv, then three stages of two basic blocks each (two 3x3 convs per block) with
64, 128, 256 channels (x width), the last two stages downsampling by 2: 1 + 3 * 2 * 2 = 13 conv
layers, global average pooling, one linear layer: the authors' layout with their 64 base
channels (pass width=0.25 for a cheap 16-channel variant). Glorot initialisation.
"""
from __future__ import annotations

from torch import nn

from raysweep.models._registry import MODELS, init_weights, scaled


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the (1x1-projected when the shape changes) input, then ReLU."""

    def __init__(self, in_c: int, out_c: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_c, out_c, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(out_c),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_c, out_c, 3, padding=1, bias=False), nn.BatchNorm2d(out_c),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_c != out_c:
            self.shortcut = nn.Sequential(nn.Conv2d(in_c, out_c, 1, stride=stride, bias=False), nn.BatchNorm2d(out_c))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class ResNetClassifier(nn.Module):
    def __init__(self, in_shape: tuple[int, int, int], n_classes: int, blocks: tuple[int, ...] = (2, 2, 2),
                 channels: int = 64, width: float = 1.0, init: str = "glorot"):
        super().__init__()
        c0 = scaled(channels, width)
        layers: list[nn.Module] = [nn.Conv2d(in_shape[0], c0, 3, padding=1, bias=False), nn.BatchNorm2d(c0),
                                   nn.ReLU(inplace=True)]
        in_c = c0
        for stage, n_blocks in enumerate(blocks):
            out_c = c0 * 2**stage
            for b in range(n_blocks):
                stride = 2 if stage > 0 and b == 0 else 1
                layers.append(BasicBlock(in_c, out_c, stride))
                in_c = out_c
        self.features = nn.Sequential(*layers)
        # Global average pooling makes the head independent of the input resolution.
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_c, n_classes))
        init_weights(self, init)

    def forward(self, x):
        return self.head(self.features(x))


@MODELS.register("resnet13", "ResNet-13 (supplement F): 3x3 stem + 3 stages of 2 basic blocks, 64/128/256 ch")
def resnet13(in_shape: tuple[int, int, int], n_classes: int, **kw) -> nn.Module:
    return ResNetClassifier(in_shape, n_classes, **kw)
