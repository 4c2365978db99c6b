"""Every registry in one place, and plugins loaded in one place.

Importing the registering packages fills the registries (data sets, models, strategies,
attacks, distances); then every installed package's `raysweep.plugins` entry point is loaded
(pip-installed plugins, e.g. examples/raysweep-example-plugin), then a spec's `plugins:` modules
are imported (local modules); both may register more. `origin(entry)` says where an entry came
from (its module and the distribution that installed it) for `raysweep list`. `load` runs once
per process with the spec's plugins: in the driver when the spec is validated, in each Ray
worker when its first trial or actor starts. What a trial needs from these registries is read
once, when the trial is resolved (raysweep.resolve.facts).
"""
from __future__ import annotations

import functools
import importlib
import importlib.metadata as metadata
from typing import Any, Callable, Iterable, Optional

from raysweep.attacks import ATTACKS
from raysweep.data.dataset import DATASETS
from raysweep._core.errors import UserError
from raysweep.manifold.distance import DISTANCES
from raysweep.models import MODELS
from raysweep._core.registry import Registry
from raysweep.training.strategy import STRATEGIES

REGISTERING_MODULES = ("raysweep.data", "raysweep.models", "raysweep.training.strategies", "raysweep.attacks",
                       "raysweep.manifold.distance", "raysweep.attacks.peers")
ENTRY_POINT_GROUP = "raysweep.plugins"
_loaded_entry_points: set[str] = set()  # a "module:function" entry point registers once per process


def load_entry_points() -> None:
    """Load every installed `raysweep.plugins` entry point once: a module (importing it registers)
    or a function (called without arguments). A broken plugin is a UserError naming it."""
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.value in _loaded_entry_points:
            continue
        dist = ep.dist.name if ep.dist is not None else "?"
        try:
            obj = ep.load()
            if callable(obj):
                obj()
        except Exception as e:  # any failure inside a third-party plugin is its problem, named as such
            raise UserError(f"plugin {ep.name!r} ({ep.value}, from {dist}) failed to load: {type(e).__name__}: {e}; "
                            f"fix or uninstall it (pip uninstall {dist})") from None
        _loaded_entry_points.add(ep.value)


def load(plugins: Iterable[str] = ()) -> None:
    """Register every built-in name, the installed plugins' entry points, then the spec's plugin
    modules (a bad one is a UserError)."""
    for m in REGISTERING_MODULES:
        importlib.import_module(m)
    load_entry_points()
    for m in plugins:
        try:
            importlib.import_module(m)
        except ImportError as e:
            raise UserError(f"plugins: cannot import {m!r} ({e}); fix the module name or PYTHONPATH") from None


def registries() -> dict[str, Registry]:
    """kind -> registry, after load()."""
    return {"datasets": DATASETS, "models": MODELS, "strategies": STRATEGIES, "attacks": ATTACKS,
            "distances": DISTANCES}


@functools.lru_cache(maxsize=None)
def _distributions(top_level: str) -> tuple[str, ...]:
    return tuple(metadata.packages_distributions().get(top_level, ()))


def origin(entry: Any) -> dict[str, Optional[str]]:
    """{"module": the factory's module, "distribution": the installed distribution that ships it,
    or None for a local module (a spec's `plugins:` on PYTHONPATH)}."""
    module = getattr(entry.factory, "__module__", None) or "?"
    dists = _distributions(module.split(".")[0])
    return {"module": module, "distribution": dists[0] if dists else None}


def resolve_trial_fn(path: str) -> Callable:
    """The "module:function" a spec's `trial:` names."""
    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as e:
        raise UserError(f"trial: cannot load {path!r} ({e}); use 'module:function'") from None
