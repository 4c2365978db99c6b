"""Adversarial transformation training (Eq. 5, Sec. 3.5; supplement H).

The adversarial part of each batch is the real training image warped by theta = identity + t,
t found by the attacks' transformation (STN) attack: Adam-PGD over the 6 DOF (tx, ty, shear_x,
shear_y, scale, rotation), ||t||_inf <= eta 0.3, the first iterate at the identity, theta kept
in the transformation box (the data set's preset on FONTS, else the `preset` parameter), with
the model in eval mode; loss = (CE_clean + CE_adv) / 2 in one train-mode pass (see _mix.py).
On FONTS the transformations are the true manifold's, so this is the image-space twin of
`onmanifold_true` (Sec. 3.5); on EMNIST/F-MNIST it needs no generative model at all.
Variants half | full | weak as for regular adversarial training.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from raysweep.training.strategies._craft import attack_craft, build_attack, parse_params, theta_box
from raysweep.attacks import Attack
from raysweep.training.strategies._mix import MixedStrategy, Variant, check_fraction, get_variant
from raysweep.training.strategy import STRATEGIES, StrategyContext


@dataclass(frozen=True)
class TransformParams:
    variant: str = "half"  # half | full | weak (supplement H)
    eta: float = 0.3
    iterations: int = 40
    lr: float = 0.005
    fraction: Optional[float] = None  # share of the batch perturbed; None: the variant's
    preset: Optional[str] = None  # theta box; None: the data set's own (FONTS) or "hard"


def _resolve(params: dict[str, Any], ctx: StrategyContext) -> tuple[Attack, Variant, float]:
    """(attack, variant, fraction); with an empty context (validation) the box is the preset's."""
    p = parse_params("transform_adversarial", TransformParams, params)
    variant = get_variant(p.variant)
    fraction = variant.adv_fraction if p.fraction is None else check_fraction("fraction", p.fraction)
    lower, upper = theta_box(ctx, p.preset)
    attack = build_attack("transform", early_stop=variant.early_stop, eta=p.eta, iterations=p.iterations,
                          lr=p.lr, lower=tuple(lower), upper=tuple(upper))
    return attack, variant, fraction


@STRATEGIES.register("transform_adversarial", "adversarial transformation training, 6 DOF, eta 0.3 (Eq. 5)",
                     family="transformation", params=TransformParams, check=lambda **p: _resolve(p, StrategyContext()))
def build_transform_adversarial(ctx: StrategyContext, **params: Any) -> MixedStrategy:
    attack, variant, fraction = _resolve(params, ctx)
    craft = attack_craft(attack, early_stop=variant.early_stop, generator=ctx.generator)
    return MixedStrategy("transform_adversarial", craft, fraction, ctx.generator)

