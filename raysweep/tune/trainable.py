"""The Tune trainable: one trial = one classifier, thin glue over raysweep.trial.

Per epoch it reports the training metrics with a checkpoint (model, optimiser, epoch), so a trial
retried by FailureConfig resumes from its last epoch; at the end it writes the trial's rows to
the tables and reports the final metrics. A trial whose rows already exist returns at once, so a
resumed sweep never writes a row twice.
"""
from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import pyarrow as pa
import torch
from ray import tune

from raysweep import catalog, storage
from raysweep.checkpoint_repair import STATE_FILE
from raysweep.config.resolve import TrialConfig
from raysweep.errors import UserError
from raysweep.results.rows import epochs_table, failed_table, ok_tables
from raysweep.results.store import TableStore, samples_path



@dataclass(frozen=True)
class SweepContext:
    """What every trial of a sweep shares (passed once with tune.with_parameters)."""

    storage: str
    sweep: str
    schema: pa.Schema
    trial_fn: str
    plugins: tuple[str, ...] = ()
    manifold_actors: dict[str, str] = field(default_factory=dict)  # manifold kind -> Ray actor names
    source_model: Optional[dict[str, Any]] = None  # the transfer source's SourceJob, trained by the driver


def _load_state() -> Optional[dict[str, Any]]:
    ckpt = tune.get_checkpoint()
    if ckpt is None:
        return None
    with ckpt.as_directory() as d:
        state = os.path.join(d, STATE_FILE)
        # An empty checkpoint is how a resume marks "start afresh" (raysweep.tune.resume).
        return torch.load(state, map_location="cpu", weights_only=True) if os.path.exists(state) else None


def _report_epoch(epoch: int, metrics: dict[str, float], state_fn) -> None:
    """Training loop on_epoch hook: report metrics with a checkpoint of the whole training state."""
    with tempfile.TemporaryDirectory() as d:
        torch.save(state_fn(), os.path.join(d, STATE_FILE))
        tune.report({**metrics, "done": 0}, checkpoint=tune.Checkpoint.from_directory(d))


def _manifolds(ctx: SweepContext) -> dict[str, Any]:
    """Manifolds served by the sweep's shared actors (raysweep.tune.actors), by name, and the
    transfer attack's source model (raysweep.training.source)."""
    from raysweep.training.source import served

    out = served(ctx.storage, ctx.source_model)  # loaded from storage once per worker process
    if not ctx.manifold_actors:
        return out
    from raysweep.tune.manifold_client import manifold_from_actors

    return {**out, **{kind: manifold_from_actors(names) for kind, names in ctx.manifold_actors.items()}}


def run_sweep_trial(config: dict[str, Any], ctx: SweepContext) -> None:
    """The function trainable; config = {"trial": TrialConfig.to_dict()} (one grid point)."""
    import ray

    from raysweep.trial import TrialHooks

    # One "Checkpoint successfully created" info line per epoch per trial drowns the progress line.
    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)
    catalog.load(ctx.plugins)
    cfg = TrialConfig.from_dict(config["trial"])
    store = TableStore(ctx.storage, ctx.sweep)
    if store.has(cfg.trial_id):
        tune.report({"done": 1, "skipped": 1})
        return
    started = time.time()
    hooks = TrialHooks(state=_load_state(), on_epoch=_report_epoch, manifolds=_manifolds(ctx))
    try:
        out = catalog.resolve_trial_fn(ctx.trial_fn)(cfg, hooks)
    except UserError as e:  # deterministic (NaN loss, bad parameters): a retry would fail the same way
        store.write(cfg.trial_id, failed_table(cfg, f"UserError: {e}", ctx.schema))
        tune.report({"done": 1, "skipped": 0, "failed": 1})
        return
    trial, examples = ok_tables(
        cfg, out.row, out.examples, ctx.schema, started_at=started, finished_at=time.time(),
        node_ip=ray.util.get_node_ip_address() if ray.is_initialized() else socket.gethostname(),
        gpu_ids=",".join(str(g) for g in ray.get_gpu_ids()),
        resumed_from_epoch=int(hooks.state["epoch"]) if hooks.state else 0)
    if getattr(out, "samples", None):  # Fig. 2 pictures, before the row that marks the trial done
        storage.save_torch(samples_path(ctx.storage, ctx.sweep, cfg.trial_id), out.samples)
    store.write(cfg.trial_id, trial, examples, epochs_table(cfg, getattr(out, "epochs", [])))
    final = {k: v for k, v in out.row.items() if isinstance(v, (int, float))}
    tune.report({**final, "done": 1, "skipped": 0})
