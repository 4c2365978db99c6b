"""The paper's convolutional classifier (Sec. 3.1; the authors' "standard" network).

Conv k4 s2 p1 with 16 -> 32 -> 64 channels (doubling), each followed by BN and ReLU; layers are
added while the feature map stays at least 2 pixels high after the next halving, which gives three
layers for 28x28 (28 -> 14 -> 7 -> 3) and four for CelebA's 56x48 (-> 28x24 -> 14x12 -> 7x6 ->
3x3). Then flatten -> Linear(100) -> Linear(n_classes), with no nonlinearity between the two
linear layers, as in the original; the hidden layer has 100 units for every data set (CelebA's two
classes included), as the authors' code has it. Glorot initialisation (Sec. 3.1, [29]).
"""
from __future__ import annotations

from torch import nn

from raysweep.models._registry import MODELS, init_weights, scaled


def conv_resolutions(height: int, width: int) -> list[tuple[int, int]]:
    """Feature-map sizes after each k4 s2 p1 conv (each halves, rounding down)."""
    sizes = [(height // 2, width // 2)]
    while sizes[-1][0] // 2 >= 2 and sizes[-1][1] // 2 >= 2:
        sizes.append((sizes[-1][0] // 2, sizes[-1][1] // 2))
    return sizes


class ConvClassifier(nn.Module):
    """Strided-conv feature extractor + two linear layers; returns logits [B, n_classes]."""

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int, channels: int = 16,
                 hidden: int = 100, width: float = 1.0, init: str = "glorot"):
        super().__init__()
        c, h, w = in_shape
        sizes = conv_resolutions(h, w)
        layers: list[nn.Module] = []
        in_c = c
        for i in range(len(sizes)):
            out_c = scaled(channels * 2**i, width)
            layers += [nn.Conv2d(in_c, out_c, 4, stride=2, padding=1), nn.BatchNorm2d(out_c), nn.ReLU(inplace=True)]
            in_c = out_c
        self.features = nn.Sequential(*layers)
        flat = in_c * sizes[-1][0] * sizes[-1][1]  # 64 * 3 * 3 = 576 for 28x28
        # No nonlinearity between the two linear layers: the original's quirk, kept on purpose.
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, hidden), nn.Linear(hidden, n_classes))
        init_weights(self, init)

    def forward(self, x):
        return self.head(self.features(x))


@MODELS.register("cnn", "paper's CNN (Sec. 3.1): conv k4 s2 16/32/64 + BN + ReLU, two linear layers")
def cnn(in_shape: tuple[int, int, int], n_classes: int, **kw) -> nn.Module:
    return ConvClassifier(in_shape, n_classes, **kw)
