"""Regular adversarial training (Eq. 2, Sec. 3.4; supplement H) and its random-noise baseline.

`adversarial`: each batch is split clean / adversarial, the adversarial part crafted by the
attacks' Adam-PGD (L-inf eps 0.3, lr 0.005, 40 iterations, one restart with the Eq. 19 random
start) in eval mode; loss = (CE_clean + CE_adv) / 2 in one train-mode pass (see _mix.py).
Variants (supplement H, Fig. 19): `half` (50% adversarial, all iterations, highest-loss iterate:
the paper's default), `full` (100% adversarial), `weak` (50%, each sample stops at its first
adversarial example).
`random_image`: the same, with delta drawn uniformly in the eps-ball (distance and direction,
Eq. 19) instead of optimised: the baseline showing that random noise buys nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from raysweep.attacks import Attack
from raysweep.attacks.norms import check_norm
from raysweep.training.strategies._craft import attack_craft, build_attack, parse_params
from raysweep.training.strategies._mix import MixedStrategy, check_fraction, get_variant
from raysweep.training.strategy import STRATEGIES, StrategyContext


@dataclass(frozen=True)
class AdversarialParams:
    variant: str = "half"  # half | full | weak (supplement H)
    eps: float = 0.3
    norm: str = "linf"  # or "l2" (then eps 1.5 is the paper's value)
    iterations: int = 40
    lr: float = 0.005  # Adam step of the attack
    fraction: Optional[float] = None  # share of the batch perturbed; None: the variant's


def _resolve(name: str, params: dict[str, Any], random: bool) -> tuple[Attack, bool, float]:
    """(attack, early_stop, fraction) from the spec's params; data-free, so validation runs it."""
    p = parse_params(name, AdversarialParams, params)
    variant = get_variant(p.variant)
    check_norm(p.norm)
    fraction = variant.adv_fraction if p.fraction is None else check_fraction("fraction", p.fraction)
    if random:  # the attacks' random baselines: iterations 0, only the Eq. 19 draw
        attack = build_attack(f"random_{p.norm}", early_stop=False, eps=p.eps, norm=p.norm)
        early_stop = False
    else:
        attack = build_attack(p.norm, early_stop=variant.early_stop, eps=p.eps, norm=p.norm,
                              iterations=p.iterations, lr=p.lr)
        early_stop = variant.early_stop
    return attack, early_stop, fraction


def _build(name: str, ctx: StrategyContext, params: dict[str, Any], random: bool) -> MixedStrategy:
    attack, early_stop, fraction = _resolve(name, params, random)
    craft = attack_craft(attack, early_stop=early_stop, generator=ctx.generator)
    return MixedStrategy(name, craft, fraction, ctx.generator)


@STRATEGIES.register("adversarial", "regular adversarial training, L-inf eps 0.3, 50/50 clean/adversarial (Eq. 2)",
                     family="regular", params=AdversarialParams, check=lambda **p: _resolve("adversarial", p, random=False))
def build_adversarial(ctx: StrategyContext, **params: Any) -> MixedStrategy:
    return _build("adversarial", ctx, params, random=False)


@STRATEGIES.register("random_image", "baseline: uniform noise in the eps-ball instead of adversarial (supp. H)",
                     family="baseline", params=AdversarialParams, check=lambda **p: _resolve("random_image", p, random=True))
def build_random_image(ctx: StrategyContext, **params: Any) -> MixedStrategy:
    return _build("random_image", ctx, params, random=True)

