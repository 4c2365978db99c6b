"""The Tune trainable: one trial = one pack of classifiers (raysweep.resolve.packing), glue over raysweep.trial.pack.

Per epoch it reports the training metrics with a checkpoint (model, optimiser, epoch; tagged with
the member it belongs to), so a trial retried by FailureConfig resumes from its last epoch; each
member's rows are written as soon as it has them. Members whose rows already exist are dropped
before anything runs, so a resumed or retried pack never writes a row twice.
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
import ray
import torch
import torch._dynamo  # noqa: F401  torch.optim imports it at the first Adam (~0.7 s): pay it at worker start, with torch
from ray import tune

from raysweep.config.trial_config import TrialConfig
from raysweep.driver.checkpoint_repair import STATE_FILE
from raysweep.resolve import catalog
from raysweep.resolve.packing import members_of
from raysweep.results.store import TableStore
from raysweep.results.write import write_failed, write_ok
from raysweep.trial.pack import PackHooks, run_pack
from raysweep.trial.source_model import served
from raysweep.tune.manifold_client import manifold_from_actors


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
    checkpoint_every_s: float = 0.0  # SweepSpec.checkpoint_every_s
    report_every_epoch: bool = True  # metrics each epoch, for the spec's tracking callbacks


def _load_state() -> Optional[dict[str, Any]]:
    ckpt = tune.get_checkpoint()
    if ckpt is None:
        return None
    with ckpt.as_directory() as d:
        state = os.path.join(d, STATE_FILE)
        # An empty checkpoint is how a resume marks "start afresh" (raysweep.tune.resume).
        return torch.load(state, map_location="cpu", weights_only=True) if os.path.exists(state) else None


def _epoch_reporter(every_s: float, every_epoch: bool):
    """on_epoch hook: report with a checkpoint of the training state once `every_s` s passed since the last
    (0: every epoch); metrics-only reports between only if `every_epoch` (trackers draw curves from them)."""
    last = [time.monotonic()]

    def report(epoch: int, metrics: dict[str, float], state_fn) -> None:
        if time.monotonic() - last[0] < every_s:
            return tune.report({**metrics, "done": 0}) if every_epoch else None
        with tempfile.TemporaryDirectory() as d:
            torch.save(state_fn(), os.path.join(d, STATE_FILE))
            tune.report({**metrics, "done": 0}, checkpoint=tune.Checkpoint.from_directory(d))
        last[0] = time.monotonic()
    return report


def _manifolds(ctx: SweepContext) -> dict[str, Any]:
    """Manifolds served by the sweep's shared actors (raysweep.tune.actors), by name, and the
    transfer attack's source model (raysweep.trial.source_model)."""
    out = served(ctx.storage, ctx.source_model)  # loaded from storage once per worker process
    return {**out, **{kind: manifold_from_actors(names) for kind, names in ctx.manifold_actors.items()}}


def run_sweep_trial(config: dict[str, Any], ctx: SweepContext) -> None:
    """The function trainable; config = Pack.to_config() (one model, or the seeds of one cell)."""
    # One "Checkpoint successfully created" info line per epoch per trial drowns the progress line.
    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)
    catalog.load(ctx.plugins)
    store = TableStore(ctx.storage, ctx.sweep)
    todo = [cfg for cfg in members_of(config) if not store.has(cfg.trial_id)]  # finished rows stay as they are
    if not todo:
        tune.report({"done": 1, "skipped": 1})
        return
    node = ray.util.get_node_ip_address() if ray.is_initialized() else socket.gethostname()
    final: dict[str, Any] = {"failed": 0}  # the last member's numbers, for trackers' final metrics

    def on_done(cfg: TrialConfig, out, started: float, resumed_from: int) -> None:
        write_ok(store, cfg, out, ctx.schema, started_at=started, node_ip=node, resumed_from_epoch=resumed_from,
                 gpu_ids=",".join(str(g) for g in ray.get_gpu_ids()))
        final.update({k: v for k, v in out.row.items() if isinstance(v, (int, float))})

    def on_failed(cfg: TrialConfig, message: str) -> None:  # deterministic (NaN loss): a retry fails the same way
        write_failed(store, cfg, message, ctx.schema)
        final["failed"] += 1

    hooks = PackHooks(on_done=on_done, on_failed=on_failed, state=_load_state(),
                      on_epoch=_epoch_reporter(ctx.checkpoint_every_s, ctx.report_every_epoch),
                      manifolds=_manifolds(ctx))
    run_pack(todo, hooks, catalog.resolve_trial_fn(ctx.trial_fn))
    tune.report({**final, "done": 1, "skipped": 0, "models": len(todo)})
