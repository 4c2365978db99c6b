"""Classifier registry `MODELS` (all families registered) and `build_model`.

Families live one per file (cnn, mlp, resnet, vgg); importing this module registers all of them.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from raysweep._core.errors import UserError
from raysweep.models import cnn, mlp, resnet, vgg  # noqa: F401  (register the families)
from raysweep.models._registry import MODELS

__all__ = ["MODELS", "build_model"]


def build_model(name: str, in_shape: tuple[int, int, int], n_classes: int, *,
                seed: Optional[int] = None, **kw: Any) -> nn.Module:
    """Build classifier `name` for images of `in_shape` (C, H, W) and `n_classes` labels.

    With `seed`, the initial weights depend on the seed only: the global RNG is forked, so the
    caller's random stream is left untouched.
    """
    entry = MODELS.get(name)  # unknown name -> UserError listing the known ones
    if len(in_shape) != 3 or min(in_shape) < 1:
        raise UserError(f"image shape must be (C, H, W) with positive sizes, got {tuple(in_shape)}")
    if n_classes < 2:
        raise UserError(f"a classifier needs at least 2 classes, got {n_classes}")
    in_shape = tuple(int(s) for s in in_shape)  # type: ignore[assignment]
    if seed is None:
        return entry.factory(in_shape=in_shape, n_classes=n_classes, **kw)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return entry.factory(in_shape=in_shape, n_classes=n_classes, **kw)
