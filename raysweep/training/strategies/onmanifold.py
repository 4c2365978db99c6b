"""On-manifold adversarial training (Eq. 4, Sec. 3.5; supplement G, H) and its random baseline.

The adversarial part of each batch is dec(z + zeta, ctx) with zeta found by the attacks'
on-manifold Adam-PGD (||zeta||_inf <= eta, z + zeta in the manifold's box, 40 iterations, one
restart) with the model in eval mode; the clean part stays the real training images and the loss
is (CE_clean + CE_adv) / 2 in one train-mode pass (see _mix.py). Which manifold is a parameter:
- `onmanifold_true`:  FONTS theta with font and class fixed, eta 0.3;
- `onmanifold_class`: the class-specific VAE-GANs (ctx = label), eta 0.3; only samples whose code
  has ||z||_inf <= 2 are used (the others are dropped from the adversarial part);
- `onmanifold_data`:  the class-agnostic VAE-GAN, eta 0.1 (supplement G).
`random_latent`: zeta drawn uniformly in the eta-ball (Eq. 19), no optimisation (supplement H);
its `manifold` parameter picks the manifold (default "true", the registered need).
Variants half | full | weak as for regular adversarial training.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from raysweep.attacks import Attack
from raysweep._core.errors import UserError
from raysweep.training.strategies._craft import attack_craft, build_attack, get_manifold, parse_params, valid_codes
from raysweep.training.strategies._mix import MixedStrategy, check_fraction, get_variant
from raysweep.training.strategy import STRATEGIES, StrategyContext

# manifold -> (attack in raysweep.attacks, default eta from the paper)
LATENT_ATTACKS = {"true": ("onmanifold_true", 0.3), "class": ("onmanifold_class", 0.3), "data": ("onmanifold_data", 0.1)}


@dataclass(frozen=True)
class OnManifoldParams:
    variant: str = "half"  # half | full | weak (supplement H)
    eta: Optional[float] = None  # None: 0.3 (true, class) or 0.1 (data)
    norm: str = "linf"
    iterations: int = 40
    lr: float = 0.005
    fraction: Optional[float] = None  # share of the batch perturbed; None: the variant's
    manifold: Optional[str] = None  # random_latent only: "true", "class" or "data"


def _resolve(name: str, params: dict[str, Any], kind: Optional[str]) -> tuple[str, Attack, bool, float]:
    """(manifold kind, attack, early_stop, fraction) from the spec's params, data-free.
    kind None: the random baseline, whose manifold comes from the `manifold` parameter."""
    p = parse_params(name, OnManifoldParams, params)
    if kind is not None and p.manifold is not None:
        raise UserError(f"strategy {name!r} always uses the {kind!r} manifold; remove the manifold parameter")
    random = kind is None
    kind = kind or p.manifold or "true"
    if kind not in LATENT_ATTACKS:
        raise UserError(f"strategy {name!r}: manifold must be one of {', '.join(LATENT_ATTACKS)}, got {kind!r}")
    attack_name, default_eta = LATENT_ATTACKS[kind]
    eta = default_eta if p.eta is None else p.eta
    variant = get_variant(p.variant)
    fraction = variant.adv_fraction if p.fraction is None else check_fraction("fraction", p.fraction)
    if random:  # iterations 0: only the Eq. 19 draw in the eta-ball, decoded
        attack = build_attack("random_latent", early_stop=False, eta=eta, norm=p.norm, manifold=kind)
        early_stop = False
    else:
        attack = build_attack(attack_name, early_stop=variant.early_stop, eta=eta, norm=p.norm,
                              iterations=p.iterations, lr=p.lr)
        early_stop = variant.early_stop
    return kind, attack, early_stop, fraction


def _build(name: str, ctx: StrategyContext, params: dict[str, Any], kind: Optional[str]) -> MixedStrategy:
    kind, attack, early_stop, fraction = _resolve(name, params, kind)
    manifold = get_manifold(ctx, kind, name)
    craft = attack_craft(attack, early_stop=early_stop, manifold=manifold, generator=ctx.generator,
                         keep=valid_codes(manifold))
    return MixedStrategy(name, craft, fraction, ctx.generator)


def _register(name: str, kind: Optional[str], description: str) -> None:
    def factory(ctx: StrategyContext, **params: Any) -> MixedStrategy:
        return _build(name, ctx, params, kind)

    factory.__doc__ = description
    family = "baseline" if kind is None else "on-manifold"
    STRATEGIES.register(name, description, needs=kind or "true", family=family,
                        params=OnManifoldParams, check=lambda **p: _resolve(name, p, kind))(factory)


_register("onmanifold_true", "true", "on-manifold adversarial training on the true FONTS manifold, eta 0.3 (Eq. 4)")
_register("onmanifold_class", "class", "on-class-manifold adversarial training via class VAE-GANs, eta 0.3 (Eq. 4)")
_register("onmanifold_data", "data", "on-data-manifold adversarial training via one VAE-GAN, eta 0.1 (supp. G)")
_register("random_latent", None, "baseline: uniform latent noise in the eta-ball, decoded (supp. H)")
