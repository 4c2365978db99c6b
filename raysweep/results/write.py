"""The one write path of a finished trial's results, for the sweep's trainable and for
`raysweep evaluate` alike: the sample pictures first, then the example and epoch rows, then the
trial row that marks the trial done (raysweep.results.store), every row shaped by
raysweep.results.rows. No Ray here."""
from __future__ import annotations

import time
from typing import Any

import pyarrow as pa

from raysweep._core import storage
from raysweep.config.trial_config import TrialConfig
from raysweep.results.rows import epochs_table, failed_table, ok_tables
from raysweep.results.store import TableStore


def write_ok(store: TableStore, cfg: TrialConfig, out: Any, schema: pa.Schema, *, started_at: float,
             **extra: Any) -> None:
    """Write one finished trial: `out` is what the trial function returned (its row, examples,
    epochs and sample pictures, raysweep.trial.protocol.TrialOutput); `extra` are provenance
    columns (node_ip, gpu_ids, resumed_from_epoch) or measured values that override the row's."""
    trial, examples = ok_tables(cfg, {**out.row, **extra}, out.examples, schema, started_at=started_at,
                                finished_at=time.time())
    if getattr(out, "samples", None):  # Fig. 2 pictures, before the row that marks the trial done
        storage.save_torch(store.samples_path(cfg.trial_id), out.samples)
    store.write(cfg.trial_id, trial, examples, epochs_table(cfg, getattr(out, "epochs", [])))


def write_failed(store: TableStore, cfg: TrialConfig, message: str, schema: pa.Schema) -> None:
    """The row of a trial that failed (deterministically, or after all its retries)."""
    store.write(cfg.trial_id, failed_table(cfg, message, schema))
