"""The classifier registry and the small pieces every classifier family shares.

Each family module (cnn.py, mlp.py, resnet.py, vgg.py) registers its factories in `MODELS`;
a factory has the signature `(in_shape=(C, H, W), n_classes=int, **kw) -> nn.Module` and the
module returns logits (never softmax: attacks need the raw scores).
"""
from __future__ import annotations

from torch import nn

from raysweep._core.errors import UserError
from raysweep._core.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")


def scaled(channels: int, width: float) -> int:
    """`channels` times the width multiplier, at least 1."""
    if width <= 0:
        raise UserError(f"model width must be positive, got {width}; use e.g. width=1.0")
    return max(1, int(round(channels * width)))


INITS = ("glorot", "he")


def init_weights(module: nn.Module, scheme: str = "glorot") -> None:
    """Conv/linear weights, zero biases and unit BN for every layer of `module`.

    "glorot" (default): Glorot and Bengio's normalised initialisation (uniform, their Eq. 16),
    the "random weight initialization [29]" of the paper's Sec. 3.1. "he": He-normal for ReLU,
    what this code used before (the authors' code passed the ReLU gain as Kaiming's
    negative-slope argument by mistake; "he" is the plain ReLU initialisation).
    """
    if scheme not in INITS:
        raise UserError(f"unknown weight initialisation {scheme!r}; use one of {', '.join(INITS)}")
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if scheme == "glorot":
                nn.init.xavier_uniform_(m.weight)
            else:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
