"""STN data augmentation (Sec. 3.5, the baseline of Fig. 6): random 6-DOF transformations.

theta = (tx, ty, shear_x, shear_y, scale, rotation) is drawn uniformly in the transformation
box (the data set's preset on FONTS, else the `preset` parameter), which contains the identity
(0, 0, 0, 0, 1, 0), and the training image is warped with it through the spatial transformer.
The authors drew t around zero and clamped it into the box, so their scale was always 0.75;
sampling theta itself in the box, as here, is what the paper describes.
Like the random baselines it replaces `fraction` of each batch (default 0.5, so it differs from
`transform_adversarial` only in random vs adversarial t) and uses the same one-pass loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn

from raysweep.data.batch import Batch
from raysweep.data.transform import get_preset, warp
from raysweep.training.strategies._craft import parse_params, theta_box
from raysweep.training.strategies._mix import MixedStrategy, check_fraction, uniform_box
from raysweep.training.strategy import STRATEGIES, StrategyContext


@dataclass(frozen=True)
class AugmentParams:
    fraction: float = 0.5  # share of each batch that is transformed (1.0: every image)
    preset: Optional[str] = None  # theta box; None: the data set's own (FONTS) or "hard"


def random_transform(lower: torch.Tensor, upper: torch.Tensor, generator: Optional[torch.Generator]):
    """craft(): warp each image with its own theta ~ U(lower, upper) [B, 6]."""

    def craft(model: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        theta = uniform_box(lower, upper, len(batch), generator).to(batch.x.device)
        keep = torch.ones(len(batch), dtype=torch.bool, device=batch.x.device)
        return warp(batch.x, theta), keep

    return craft


def _resolve(params: dict[str, Any]) -> AugmentParams:
    p = parse_params("augment", AugmentParams, params)
    check_fraction("fraction", p.fraction)
    if p.preset is not None:
        get_preset(p.preset)
    return p


@STRATEGIES.register("augment", "STN data augmentation: random 6-DOF transformations in the preset's box",
                     family="baseline", check=lambda **p: _resolve(p))
def build_augment(ctx: StrategyContext, **params: Any) -> MixedStrategy:
    p = _resolve(params)
    lower, upper = (torch.tensor(v, dtype=torch.float32) for v in theta_box(ctx, p.preset))
    craft = random_transform(lower, upper, ctx.generator)
    return MixedStrategy("augment", craft, check_fraction("fraction", p.fraction), ctx.generator)

