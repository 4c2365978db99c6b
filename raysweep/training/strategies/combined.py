"""Regular and on-manifold adversarial training combined (Sec. 3.6, Fig. 7 bottom).

The adversarial part of each batch (50% by default) is split again: `ratio` of it gets regular
L-inf adversarial examples (eps 0.3), the rest on-manifold ones (eta 0.3 on the true manifold by
default); both are crafted by the attacks package in eval mode and the loss is
(CE_clean + CE_adv) / 2 over one train-mode pass (see _mix.py). ratio 1 is `adversarial`,
ratio 0 is `onmanifold_<manifold>`; values in between trade regular robustness against
generalization, which is what Fig. 7 (bottom) shows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn

from raysweep.attacks import Attack
from raysweep.data.batch import Batch
from raysweep._core.errors import UserError
from raysweep.training.strategies._craft import attack_craft, build_attack, get_manifold, parse_params, valid_codes
from raysweep.training.strategies._mix import Craft, MixedStrategy, Variant, check_fraction, get_variant
from raysweep.training.strategies.onmanifold import LATENT_ATTACKS
from raysweep.training.strategy import STRATEGIES, StrategyContext


@dataclass(frozen=True)
class CombinedParams:
    ratio: float = 0.5  # share of the adversarial examples that are regular (the rest on-manifold)
    variant: str = "half"  # half | full | weak (supplement H)
    eps: float = 0.3  # regular L-inf bound
    eta: Optional[float] = None  # latent bound; None: the manifold's default (0.3, data: 0.1)
    manifold: str = "true"  # which manifold the on-manifold part uses
    iterations: int = 40
    lr: float = 0.005
    fraction: Optional[float] = None  # share of the batch perturbed; None: the variant's


def split_craft(regular: Craft, onmanifold: Craft, ratio: float) -> Craft:
    """The first round(k * ratio) rows get regular examples, the rest on-manifold ones."""

    def craft(model: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        cut = int(round(len(batch) * ratio))
        rows = torch.arange(len(batch), device=batch.x.device)
        parts = [f(model, batch.select(r)) for f, r in ((regular, rows[:cut]), (onmanifold, rows[cut:])) if len(r)]
        return torch.cat([x for x, _ in parts]), torch.cat([k for _, k in parts])

    return craft


def _resolve(params: dict[str, Any]) -> tuple[CombinedParams, Variant, float, Attack, Attack]:
    """(params, variant, fraction, regular attack, latent attack) from the spec, data-free."""
    p = parse_params("combined", CombinedParams, params)
    check_fraction("ratio", p.ratio)
    if p.manifold not in LATENT_ATTACKS:
        raise UserError(f"strategy 'combined': manifold must be one of {', '.join(LATENT_ATTACKS)}, got {p.manifold!r}")
    variant = get_variant(p.variant)
    fraction = variant.adv_fraction if p.fraction is None else check_fraction("fraction", p.fraction)
    hyper = dict(early_stop=variant.early_stop, iterations=p.iterations, lr=p.lr)
    name, default_eta = LATENT_ATTACKS[p.manifold]
    latent = build_attack(name, eta=default_eta if p.eta is None else p.eta, **hyper)
    return p, variant, fraction, build_attack("linf", eps=p.eps, **hyper), latent


@STRATEGIES.register("combined", "regular + on-manifold adversarial training mixed by `ratio` (Fig. 7 bottom)",
                     needs="true", family="combined", params=CombinedParams, check=lambda **p: _resolve(p))
def build_combined(ctx: StrategyContext, **params: Any) -> MixedStrategy:
    p, variant, fraction, linf, latent = _resolve(params)
    regular = attack_craft(linf, early_stop=variant.early_stop, generator=ctx.generator)
    manifold = get_manifold(ctx, p.manifold, "combined")
    onmanifold = attack_craft(latent, early_stop=variant.early_stop, manifold=manifold,
                              generator=ctx.generator, keep=valid_codes(manifold))
    return MixedStrategy("combined", split_craft(regular, onmanifold, p.ratio), fraction, ctx.generator)

