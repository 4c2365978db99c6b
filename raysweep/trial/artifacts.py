"""What a trial is provided with besides its config: the data set (loaded once per process), the
manifolds its strategy, attacks and distances need, and the transfer attack's source model.

Learned manifolds and the source model come from the caller (the sweep's shared actors and
storage, through TrialHooks.manifolds); the FONTS true manifold is built here from the data set.
Which of them a trial needs was decided when it was resolved (TrialConfig.facts).
"""
from __future__ import annotations

import functools
import json
from typing import Any

import torch

from raysweep.config.trial_config import TrialConfig
from raysweep.data import Dataset, load_dataset
from raysweep._core.errors import UserError
from raysweep.manifold.true import TrueManifold

SOURCE_MODEL = "source_model"  # the TrialHooks.manifolds key of the transfer attack's source model


@functools.lru_cache(maxsize=2)  # a FONTS-1000 data set holds ~290 MB of latents and prototypes
def _cached_dataset(name: str, options_json: str) -> Dataset:
    # Reused actors run many trials in one process: load each data set once per process.
    return load_dataset(name, **json.loads(options_json))


def dataset_for(cfg: TrialConfig) -> Dataset:
    """The trial's data set, loaded once per process."""
    return _cached_dataset(cfg.dataset.name, json.dumps(cfg.dataset.options, sort_keys=True))


def provide_manifolds(cfg: TrialConfig, ds: Dataset, given: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The manifolds (and source model) this trial needs: the given ones, plus the FONTS true
    manifold built locally; on `device`."""
    if cfg.facts is None:
        raise UserError(f"trial {cfg.trial_id or '?'}: its config was not resolved (no facts); build trial configs "
                        "with raysweep.resolve (validate_and_resolve or resolve.trials.expand)")
    out = dict(given)
    needs = set(cfg.facts.manifolds)
    if "true" in needs and "true" not in out:
        out["true"] = TrueManifold.from_dataset(ds)
    if cfg.facts.source_model:
        needs.add(SOURCE_MODEL)
    missing = needs - set(out)
    if missing:
        raise UserError(f"trial needs manifold(s) {sorted(missing)} that the sweep did not provide; "
                        "run it through `raysweep sweep` so the manifold actors (and the transfer attack's "
                        "source model) start")
    return {k: (v.to(device) if hasattr(v, "to") else v) for k, v in out.items()}
