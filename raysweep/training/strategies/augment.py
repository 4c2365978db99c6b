"""STN data augmentation (Sec. 3.5, the baseline of Fig. 6): random 6-DOF transformations.

The random counterpart of Eq. (5): "the transformations t are applied randomly". Each training
image in the perturbed share is warped through the spatial transformer with
theta = identity + t, identity = (0, 0, 0, 0, 1, 0) = (tx, ty, shear_x, shear_y, scale,
rotation), and t drawn uniformly from the very set `transform_adversarial` searches:
||t||_inf <= eta (0.3) around the identity, intersected with the transformation box (the data
set's preset on FONTS, else the `preset` parameter). The only difference to adversarial
transformation training is then random vs adversarial t, which is the comparison the paper
draws ("especially in contrast to the random data augmentation baseline").

`sampling: preset_box` draws theta uniformly from the whole preset box instead (rotations up to
+-pi/2 on "hard", applied to images already warped by their own theta, so up to +-pi overall):
a stronger augmentation than the paper's baseline, kept as a named alternative.
The authors drew t around zero and clamped it into the box, so their scale was always 0.75;
neither sampler here clamps. Like the random baselines it replaces `fraction` of each batch
(default 0.5) and uses the same one-pass loss (_mix.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn

from raysweep.data.batch import Batch
from raysweep.data.transform import get_preset, identity_theta, warp
from raysweep._core.errors import UserError
from raysweep.training.strategies._craft import parse_params, theta_box
from raysweep.training.strategies._mix import MixedStrategy, check_fraction, uniform_box
from raysweep.training.strategy import STRATEGIES, StrategyContext

SAMPLINGS = ("eta_ball", "preset_box")


@dataclass(frozen=True)
class AugmentParams:
    fraction: float = 0.5  # share of each batch that is transformed (1.0: every image)
    eta: float = 0.3  # L-inf radius of t around the identity, as transform_adversarial's
    sampling: str = "eta_ball"  # eta_ball (the paper's baseline) | preset_box (whole box)
    preset: Optional[str] = None  # theta box; None: the data set's own (FONTS) or "hard"


def eta_ball_box(lower: torch.Tensor, upper: torch.Tensor, eta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """{identity + t : ||t||_inf <= eta} intersected with [lower, upper]: again a box (both are
    boxes), so uniform sampling in it is uniform in the set the transformation attack searches."""
    identity = identity_theta(1)[0]
    return torch.maximum(lower, identity - eta), torch.minimum(upper, identity + eta)


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
    if p.sampling not in SAMPLINGS:
        raise UserError(f"strategy 'augment': sampling {p.sampling!r} is unknown; use one of {', '.join(SAMPLINGS)}")
    if not p.eta > 0:
        raise UserError(f"strategy 'augment': eta={p.eta} must be positive (the paper's is 0.3)")
    if p.preset is not None:
        get_preset(p.preset)
    return p


def sampling_box(ctx: StrategyContext, params: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The box theta is drawn from, for these strategy parameters and this data set."""
    p = _resolve(params)
    lower, upper = (torch.tensor(v, dtype=torch.float32) for v in theta_box(ctx, p.preset))
    return (lower, upper) if p.sampling == "preset_box" else eta_ball_box(lower, upper, p.eta)


@STRATEGIES.register("augment", "STN data augmentation: random t, ||t||_inf <= 0.3 around the identity, in the box",
                     family="baseline", params=AugmentParams, check=lambda **p: _resolve(p))
def build_augment(ctx: StrategyContext, **params: Any) -> MixedStrategy:
    p = _resolve(params)
    lower, upper = sampling_box(ctx, params)
    craft = random_transform(lower, upper, ctx.generator)
    return MixedStrategy("augment", craft, p.fraction, ctx.generator)
