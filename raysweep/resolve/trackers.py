"""Which experiment trackers a spec's `callbacks:` may turn on, and the check that each one's
package is installed (Ray-free, so raysweep.resolve.validate runs it before any work starts).

The callbacks themselves are Ray Tune's own (raysweep.tune.callbacks builds them): they receive
the per-epoch metrics every trial reports (train_loss, train_error, sample_test_error, lr) and
the final ones. Each tracker is an optional extra of raysweep.
"""
from __future__ import annotations

import importlib
import importlib.util
from typing import Sequence

from raysweep.config.schema import CallbackSpec
from raysweep._core.errors import UserError

# callback name -> (the module Ray's callback imports, the raysweep extra that installs it)
TRACKERS = {"tensorboard": ("tensorboardX", "tensorboard"), "mlflow": ("mlflow", "mlflow"), "wandb": ("wandb", "wandb")}


def check_callbacks(callbacks: Sequence[CallbackSpec]) -> None:
    names = [c.name for c in callbacks]
    if len(set(names)) != len(names):
        raise UserError("callbacks: a tracker is listed twice; remove the duplicate")
    for i, c in enumerate(callbacks):
        if c.name not in TRACKERS:
            user_callback(c.name, f"callbacks[{i}]")
            continue
        module, extra = TRACKERS[c.name]
        if importlib.util.find_spec(module) is None:
            raise UserError(f"callbacks[{i}]: {c.name} needs the {module} package; pip install 'raysweep[{extra}]' "
                            "or remove the callback")


def user_callback(ref: str, path: str) -> type:
    """The Tune Callback class `module:Class` names, checked without importing Ray here: the class
    must derive from ray.tune.Callback (its own module imports Ray)."""
    module_name, _, attr = ref.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr, None)
    except ImportError as e:
        raise UserError(f"{path}: cannot import {module_name!r} ({e}); install it or put it on PYTHONPATH "
                        "(on every node)") from None
    if not isinstance(cls, type) or not any(b.__name__ == "Callback" and b.__module__.startswith("ray.tune")
                                           for b in cls.__mro__):
        raise UserError(f"{path}: {ref} is not a ray.tune.Callback subclass; derive your tracker from it")
    return cls
