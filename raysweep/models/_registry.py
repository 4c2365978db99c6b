"""The classifier registry and the small pieces every classifier family shares.

Each family module (cnn.py, mlp.py, resnet.py, vgg.py) registers its factories in `MODELS`;
a factory has the signature `(in_shape=(C, H, W), n_classes=int, **kw) -> nn.Module` and the
module returns logits (never softmax: attacks need the raw scores).
"""
from __future__ import annotations

from torch import nn

from raysweep.errors import UserError
from raysweep.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")


def scaled(channels: int, width: float) -> int:
    """`channels` times the width multiplier, at least 1."""
    if width <= 0:
        raise UserError(f"model width must be positive, got {width}; use e.g. width=1.0")
    return max(1, int(round(channels * width)))


def kaiming_init(module: nn.Module) -> None:
    """He-normal weights and zero biases for conv/linear layers, unit BN, as the authors' code.

    (The original passed the ReLU gain as Kaiming's negative-slope argument by mistake; we use
    the plain ReLU initialisation.)
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
