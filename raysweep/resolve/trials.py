"""A validated spec resolved into its trials: one typed TrialConfig per grid point, each with its
id (raysweep.config.trial_config.identify) and its registry facts (raysweep.resolve.facts).

The grid is expanded here once; validation (raysweep.resolve.validate) checks the data against
the resolved trials instead of expanding it again.
"""
from __future__ import annotations

import hashlib
from typing import Any, Optional

from raysweep._core import storage
from raysweep.config.schema import SweepSpec
from raysweep.config.trial_config import TrialConfig, identify
from raysweep._core.errors import UserError
from raysweep.resolve.facts import trial_facts


def expand(spec: SweepSpec, data_hash: str = "", lambda_table_hash: str = "") -> list[TrialConfig]:
    """The grid as trial configs: strategies x arch x N x seed (in that order). Only the trials
    that use learned manifolds carry, and are identified by, the VAE-GAN settings."""
    out = []
    for s in spec.strategies:
        for arch in spec.grid.arch:
            for n in spec.grid.n:
                for seed in spec.grid.seed:
                    cfg = TrialConfig(sweep=spec.name, trial_id="", dataset=spec.dataset, n=n, seed=seed,
                                      arch=arch, strategy=s, train=spec.train, evaluate=spec.evaluate,
                                      data_hash=data_hash, trial_fn=spec.trial, plugins=spec.plugins)
                    cfg = cfg.model_copy(update={"facts": trial_facts(cfg)})
                    if cfg.facts.learned:
                        cfg = cfg.model_copy(update={"manifolds": spec.manifolds.options,
                                                     "lambda_table_hash": lambda_table_hash})
                    out.append(identify(cfg))
    return out


def resolve_trials(spec: SweepSpec, ds: Optional[Any] = None) -> list[TrialConfig]:
    """The spec's trials with their ids: the data's content hash (when the data set `ds` is given),
    and the VAE-GAN settings plus the lambda table's content for trials that use learned manifolds."""
    table = spec.manifolds.options.lambda_table
    data = storage.read_bytes(table) if table else None
    if table and data is None:
        raise UserError(f"manifolds.options.lambda_table: {table!r} not found; run `raysweep tune-lambda` first "
                        "or fix the path")
    return expand(spec, data_hash=ds.meta.get("content_hash", ds.data_hash) if ds is not None else "",
                  lambda_table_hash=hashlib.sha256(data).hexdigest()[:16] if data else "")
