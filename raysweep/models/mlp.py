"""Multi-layer perceptron of supplement F: four hidden layers of 128 units with BN and ReLU."""
from __future__ import annotations

from math import prod

from torch import nn

from raysweep.models._registry import MODELS, init_weights, scaled


class MLPClassifier(nn.Module):
    """Flatten -> [Linear -> BN -> ReLU] x depth -> Linear(n_classes); returns logits."""

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int, hidden: int = 128,
                 depth: int = 4, width: float = 1.0, init: str = "glorot"):
        super().__init__()
        units = scaled(hidden, width)
        layers: list[nn.Module] = [nn.Flatten()]
        in_f = prod(in_shape)
        for _ in range(depth):
            layers += [nn.Linear(in_f, units), nn.BatchNorm1d(units), nn.ReLU(inplace=True)]
            in_f = units
        layers.append(nn.Linear(in_f, n_classes))
        self.net = nn.Sequential(*layers)
        init_weights(self, init)

    def forward(self, x):
        return self.net(x)


@MODELS.register("mlp", "MLP (supplement F): four hidden layers of 128 with BN + ReLU")
def mlp(in_shape: tuple[int, int, int], n_classes: int, **kw) -> nn.Module:
    return MLPClassifier(in_shape, n_classes, **kw)
