"""How strategies get their perturbed examples: from raysweep.attacks (never a second PGD), plus
the small lookups every strategy factory repeats (typed parameters, manifolds, the theta box).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, TypeVar

import torch
from torch import nn

from raysweep.attacks import ATTACKS, Attack
from raysweep.data.batch import Batch
from raysweep.data.transform import DEFAULT_PRESET, get_preset
from raysweep._core.errors import UserError
from raysweep._core.params import typed
from raysweep.training.perturbed_log import PerturbedLog
from raysweep.training.strategies._mix import Craft
from raysweep.training.strategy import StrategyContext

P = TypeVar("P")


def parse_params(strategy: str, cls: type[P], params: dict[str, Any]) -> P:
    """The frozen parameter dataclass `cls` from a spec's params, names and types checked."""
    return typed(cls, params, f"strategy {strategy!r}")


def get_manifold(ctx: StrategyContext, kind: str, strategy: str) -> Any:
    """ctx.manifolds[kind] on the training device, or a UserError naming what is missing."""
    if kind not in ctx.manifolds or ctx.manifolds[kind] is None:
        raise UserError(f"strategy {strategy!r} needs the {kind!r} manifold, which this run does not "
                        "provide; run it through `raysweep sweep` (FONTS for 'true')")
    manifold = ctx.manifolds[kind]
    return manifold.to(ctx.device) if hasattr(manifold, "to") else manifold


def theta_box(ctx: StrategyContext, preset: Optional[str]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The transformation box: an explicit preset, else the data set's own (FONTS meta), else the
    default preset (EMNIST/F-MNIST have no box of their own)."""
    if preset is None and "theta_lower" in ctx.dataset_meta:
        return tuple(ctx.dataset_meta["theta_lower"]), tuple(ctx.dataset_meta["theta_upper"])
    p = get_preset(preset or ctx.dataset_meta.get("preset", DEFAULT_PRESET))
    return p.lower, p.upper


def all_kept(batch: Batch) -> torch.Tensor:
    return torch.ones(len(batch), dtype=torch.bool, device=batch.x.device)


@dataclass(frozen=True)
class AttackCraft:
    """A craft function over a built attack (one restart).

    early_stop False: the attacks' training variant (`Attack.examples`: all iterations, the
    highest-loss iterate). True ("weak", supplement H): the evaluation attack, each sample
    stopped at its first adversarial iterate. `keep(batch)` says which rows may be used.
    `log` collects what the inner problem did (raysweep.training.perturbed_log) in the training
    variant; the weak variant's early stop leaves no start record, so it logs nothing.
    A value rather than a closure, so a pack of models (raysweep.training.packed_strategy) can
    read which attack crafts and run it on all models at once.
    """

    attack: Attack
    early_stop: bool
    manifold: Any = None
    generator: Optional[torch.Generator] = None
    keep: Callable[[Batch], torch.Tensor] = all_kept
    log: PerturbedLog = field(default_factory=PerturbedLog, compare=False)

    def __post_init__(self) -> None:
        if self.attack.config.restarts != 1:
            raise ValueError("training attacks use one restart")

    def __call__(self, model: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        if self.early_stop:
            result = self.attack(model, batch, manifold=self.manifold, generator=self.generator, keep_images=True)
            x_adv = result.x_adv[0]  # [restarts=1, B, C, H, W] -> [B, C, H, W]
        else:
            made = self.attack.training_examples(model, batch, manifold=self.manifold, generator=self.generator)
            self.log.add(made.summary())
            x_adv = made.x_adv
        return x_adv, self.keep(batch)


def attack_craft(attack: Attack, *, early_stop: bool, manifold: Any = None,
                 generator: Optional[torch.Generator] = None,
                 keep: Callable[[Batch], torch.Tensor] = all_kept) -> Craft:
    """The craft function of `attack` (see AttackCraft)."""
    return AttackCraft(attack, early_stop, manifold, generator, keep)


def build_attack(name: str, *, early_stop: bool, **hyper: Any) -> Attack:
    """ATTACKS.build with one restart; early_stop only matters for the weak variant."""
    return ATTACKS.build(name, restarts=1, early_stop=early_stop, **hyper)


def valid_codes(manifold: Any) -> Callable[[Batch], torch.Tensor]:
    """keep() for latent strategies: only samples whose code is valid (learned manifolds: the
    paper's ||z||_inf <= 2); the attack leaves the others at dec(z), which we then drop."""

    def keep(batch: Batch) -> torch.Tensor:
        return manifold.codes(batch)[2].to(torch.bool)

    return keep
