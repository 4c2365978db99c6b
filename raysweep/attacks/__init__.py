"""Attacks (Sec. 3.2-3.3 of the paper, supplement E): a registry of batched attacks on any
logit classifier, on CPU or GPU, without Ray.

    attack = ATTACKS.build("linf", eps=0.3)
    result = attack(model, batch, manifold=None, source_model=None, generator=g, keep_images=False)
    result.records  # one row per (sample, restart), result.metrics()  # success rates, norms

`ATTACKS.get(name)` carries `needs` (which manifold, "true" / "class" / "data", or
"source_model") and `family` (regular / on-manifold / transformation / baseline). For adversarial training: `attack.examples(model, batch, manifold=...)` or
`adversarial_examples(model, x, y, eps=..., norm=...)` return only the adversarial images.
"""
from raysweep.attacks import apgd, cw, onmanifold, pgd, random_noise, transfer, transformation  # noqa: F401  (registers)
from raysweep.attacks.base import Attack, AttackConfig, eval_mode
from raysweep.attacks.cw import cw_margin
from raysweep.attacks.pgd import adversarial_examples
from raysweep.attacks.records import RECORD_COLUMNS, AttackResult, compute_metrics
from raysweep.attacks.registry import ATTACKS

__all__ = [
    "ATTACKS", "Attack", "AttackConfig", "AttackResult", "RECORD_COLUMNS",
    "adversarial_examples", "compute_metrics", "cw_margin", "eval_mode",
]
