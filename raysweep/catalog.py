"""Every registry in one place, plugins loaded in one place, and what a trial needs.

Importing the registering packages fills the registries (data sets, models, strategies,
attacks, distances); a spec's `plugins:` modules are imported after them and may register more.
`manifold_needs` is the one answer to "which manifolds does this trial need", read off the
registry entries' metadata (raysweep.registry.Entry.needs_for), for the sweep driver (which
actors to start), the trial (which manifolds to build) and `raysweep train`.
"""
from __future__ import annotations

import importlib
from typing import Callable, Iterable

from raysweep.config.resolve import TrialConfig
from raysweep.errors import UserError
from raysweep.registry import MANIFOLD_KINDS, Registry

REGISTERING_MODULES = ("raysweep.data", "raysweep.models", "raysweep.training.strategies", "raysweep.attacks",
                       "raysweep.manifold.distance")


def load(plugins: Iterable[str] = ()) -> None:
    """Register every built-in name, then import the plugin modules (a bad one is a UserError)."""
    for m in REGISTERING_MODULES:
        importlib.import_module(m)
    for m in plugins:
        try:
            importlib.import_module(m)
        except ImportError as e:
            raise UserError(f"plugins: cannot import {m!r} ({e}); fix the module name or PYTHONPATH") from None


def registries() -> dict[str, Registry]:
    """kind -> registry, after load()."""
    from raysweep.attacks import ATTACKS
    from raysweep.data.dataset import DATASETS
    from raysweep.manifold.distance import DISTANCES
    from raysweep.models import MODELS
    from raysweep.training.strategy import STRATEGIES

    return {"datasets": DATASETS, "models": MODELS, "strategies": STRATEGIES, "attacks": ATTACKS,
            "distances": DISTANCES}


def resolve_trial_fn(path: str) -> Callable:
    """The "module:function" a spec's `trial:` names."""
    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as e:
        raise UserError(f"trial: cannot load {path!r} ({e}); use 'module:function'") from None


def manifold_needs(cfg: TrialConfig) -> frozenset[str]:
    """Manifold kinds ("true", "class", "data") the trial's strategy, attacks and distances need."""
    regs = registries()
    needs = {regs["strategies"].get(cfg.strategy.name).needs_for(cfg.strategy.params)}
    needs |= {regs["attacks"].get(a.name).needs_for(a.params) for a in cfg.evaluate.attacks}
    needs |= {regs["distances"].get(d.method).needs for d in cfg.evaluate.distances}
    return frozenset(n for n in needs if n in MANIFOLD_KINDS)


def needs_source_model(cfg: TrialConfig) -> bool:
    """Whether one of the trial's attacks is a transfer attack (supplement E: a source model)."""
    attacks = registries()["attacks"]
    return any(attacks.get(a.name).needs_for(a.params) == "source_model" for a in cfg.evaluate.attacks)
