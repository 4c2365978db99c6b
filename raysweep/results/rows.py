"""Assemble a trial's table rows: config columns + measured values + provenance (Ray-free).

The trial row carries every config field as its own column (docs/architecture.md), so pandas can
group by strategy, N or any strategy parameter without parsing JSON; `config_json` keeps the
whole resolved config for anything else.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
from typing import Any

import numpy as np
import pyarrow as pa

import raysweep
from raysweep.config.trial_config import TrialConfig
from raysweep.results.names import strategy_column, train_column
from raysweep.results.schema import SCHEMA_VERSION, epoch_table, example_table, trial_table


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """Short commit of the raysweep checkout, or "unknown" (an installed wheel, no git)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(raysweep.__file__)))
    try:
        out = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def config_columns(cfg: TrialConfig) -> dict[str, Any]:
    """Every config field as its own trial-table column, plus versions."""
    cols: dict[str, Any] = {
        "sweep": cfg.sweep, "trial_id": cfg.trial_id, "dataset": cfg.dataset.name,
        "dataset_options": cfg.dataset.options, "n": cfg.n, "seed": cfg.seed, "arch": cfg.arch.key,
        "strategy": cfg.strategy.key, "strategy_name": cfg.strategy.name,
        "config_json": json.dumps(cfg.to_dict(), sort_keys=True, default=str),
        "data_hash": cfg.data_hash, "results_version": cfg.results_version,
        "manifolds_json": None if cfg.manifolds is None else cfg.manifolds.model_dump_json(),
    }
    cols.update({strategy_column(k): v for k, v in cfg.strategy.params.items()})
    cols.update({train_column(k): v for k, v in cfg.train.model_dump().items() if k != "betas"})
    cols.update(schema_version=SCHEMA_VERSION, raysweep_version=raysweep.__version__, git_commit=git_commit())
    return cols


def ok_tables(cfg: TrialConfig, measured: dict[str, Any], examples: dict[str, np.ndarray],
              schema: pa.Schema, **extra: Any) -> tuple[pa.Table, pa.Table]:
    """(trial table of one ok row, example table) for a finished trial."""
    row = {**config_columns(cfg), **measured, **extra, "status": "ok"}
    n_rows = len(next(iter(examples.values()))) if examples else 0
    if n_rows:  # the paper's success: a sample misclassified (or invalid) before the attack is no success
        examples = {**examples, "success": np.asarray(examples["success"], bool) & np.asarray(examples["correct"], bool)
                    & np.asarray(examples["valid"], bool)}
    ex = example_table({**examples, "sweep": cfg.sweep, "trial_id": cfg.trial_id, "n": cfg.n, "seed": cfg.seed,
                        "strategy": cfg.strategy.key, "arch": cfg.arch.key, "schema_version": SCHEMA_VERSION}, n_rows)
    return trial_table([row], schema), ex


def failed_table(cfg: TrialConfig, error: str, schema: pa.Schema) -> pa.Table:
    """The trial row of a trial that kept failing after its retries (status=failed, its error)."""
    return trial_table([{**config_columns(cfg), "status": "failed", "error": error[-4000:]}], schema)


def epochs_table(cfg: TrialConfig, epochs: list[dict[str, Any]]) -> pa.Table:
    """The trial's epoch rows (raysweep.training.epoch_log) with the columns that name the trial."""
    ids = {"sweep": cfg.sweep, "trial_id": cfg.trial_id, "strategy": cfg.strategy.key, "arch": cfg.arch.key,
           "n": cfg.n, "seed": cfg.seed, "schema_version": SCHEMA_VERSION}
    return epoch_table([{**r, **ids} for r in epochs])
