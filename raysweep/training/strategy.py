"""What a training strategy is (Sec. 3.4-3.6 of the paper): a clean batch in, a loss out.

The training loop (raysweep.training.loop) calls `strategy.loss(model, batch)` with the model in
train mode and steps the optimiser on the result; a strategy that needs adversarial examples
crafts them itself (in eval mode, restoring train mode afterwards). New strategies are registry
entries, never new loops.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

import torch
from torch import nn

from raysweep.data.batch import Batch
from raysweep._core.registry import Registry


@dataclass
class StrategyContext:
    """What a strategy may need beyond its own parameters, handed over by whoever builds it.

    manifolds: named manifolds available to this trial, e.g. {"true": ..., "class": ...,
               "data": ...}; "class" is the class-specific VAE-GAN set, "data" the class-agnostic one.
    dataset_meta: the Dataset.meta of the trial's data (FONTS: the preset's theta box).
    generator: the trial's seeded torch.Generator, for every random choice a strategy makes.
    """

    manifolds: dict[str, Any] = field(default_factory=dict)
    dataset_meta: dict[str, Any] = field(default_factory=dict)
    generator: Optional[torch.Generator] = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


class Strategy(Protocol):
    name: str

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """Scalar loss to minimise for this batch; the model is in train mode on entry and exit."""
        ...


# factory(ctx: StrategyContext, **params) -> Strategy; params come from the sweep spec. Each entry
# carries `needs` (the manifold it trains on, if any; a `manifold` parameter overrides it, see
# Entry.needs_for) and `family` (what analysis groups by).
FAMILIES = ("normal", "regular", "on-manifold", "transformation", "baseline", "combined")
STRATEGIES: Registry[Strategy] = Registry("strategy", FAMILIES)
