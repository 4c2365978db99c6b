"""The Tune trainable: one trial = one classifier, thin glue over raysweep.trial.

Per epoch it reports the training metrics with a checkpoint (model, optimiser, epoch), so a trial
retried by FailureConfig resumes from its last epoch; at the end it writes the trial's rows to
the tables and reports the final metrics. A trial whose rows already exist returns at once, so a
resumed sweep never writes a row twice.
"""
from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Optional

import pyarrow as pa
import torch
from ray import tune

import raysweep
from raysweep.config.spec import TrialConfig, import_plugins, resolve_trial_fn
from raysweep.results.schema import SCHEMA_VERSION, example_table, trial_table
from raysweep.results.store import TableStore

STATE_FILE = "state.pt"


@dataclass(frozen=True)
class SweepContext:
    """What every trial of a sweep shares (passed once with tune.with_parameters)."""

    storage: str
    sweep: str
    schema: pa.Schema
    trial_fn: str
    plugins: tuple[str, ...] = ()
    manifold_actors: dict[str, str] = field(default_factory=dict)  # manifold name -> Ray actor name


@dataclass
class Provenance:
    version: str
    commit: str


def git_commit() -> str:
    root = os.path.dirname(os.path.dirname(os.path.abspath(raysweep.__file__)))
    try:
        return subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def config_columns(cfg: TrialConfig) -> dict[str, Any]:
    """Every config field as its own trial-table column."""
    import json

    cols = {"sweep": cfg.sweep, "trial_id": cfg.trial_id, "dataset": cfg.dataset,
            "dataset_options": cfg.dataset_options, "n": cfg.n, "seed": cfg.seed, "arch": cfg.arch,
            "strategy": cfg.strategy, "config_json": json.dumps(cfg.to_dict(), sort_keys=True, default=str)}
    cols.update({f"strategy.{k}": v for k, v in cfg.strategy_params.items()})
    cols.update({f"train.{k}": v for k, v in cfg.train.items()})
    cols["schema_version"] = SCHEMA_VERSION
    cols["raysweep_version"] = raysweep.__version__
    cols["git_commit"] = git_commit()
    return cols


def failed_row(cfg: TrialConfig, error: str) -> dict[str, Any]:
    """The trial row of a trial that kept failing after its retries."""
    return {**config_columns(cfg), "status": "failed", "error": error[-4000:]}


def _load_state() -> Optional[dict[str, Any]]:
    ckpt = tune.get_checkpoint()
    if ckpt is None:
        return None
    with ckpt.as_directory() as d:
        return torch.load(os.path.join(d, STATE_FILE), map_location="cpu", weights_only=False)


def _report_epoch(epoch: int, metrics: dict[str, float], state_fn) -> None:
    """Training loop on_epoch hook: report metrics with a checkpoint of the whole training state."""
    with tempfile.TemporaryDirectory() as d:
        torch.save(state_fn(), os.path.join(d, STATE_FILE))
        tune.report({**metrics, "done": 0}, checkpoint=tune.Checkpoint.from_directory(d))


def _manifolds(ctx: SweepContext) -> dict[str, Any]:
    """Manifolds served by the sweep's shared actors (raysweep.tune.actors), by name."""
    if not ctx.manifold_actors:
        return {}
    from raysweep.tune.actors import manifold_from_actor  # the VAE-GAN actors' client side

    return {name: manifold_from_actor(actor) for name, actor in ctx.manifold_actors.items()}


def run_sweep_trial(config: dict[str, Any], ctx: SweepContext) -> None:
    """The function trainable: config = {"trial": TrialConfig.to_dict(), "attempt_marker": ...}."""
    import ray

    from raysweep.trial import TrialHooks

    import_plugins(list(ctx.plugins))
    cfg = TrialConfig.from_dict(config["trial"])
    store = TableStore(ctx.storage, ctx.sweep)
    if cfg.trial_id in store.done_ids():
        tune.report({"done": 1, "skipped": 1})
        return
    started = time.time()
    hooks = TrialHooks(state=_load_state(), on_epoch=_report_epoch, manifolds=_manifolds(ctx))
    out = resolve_trial_fn(ctx.trial_fn)(cfg, hooks)
    row = {**config_columns(cfg), **out.row, "status": "ok", "started_at": started, "finished_at": time.time(),
           "node_ip": ray.util.get_node_ip_address() if ray.is_initialized() else socket.gethostname(),
           "gpu_ids": ",".join(str(g) for g in ray.get_gpu_ids()),
           "resumed_from_epoch": int(hooks.state["epoch"]) if hooks.state else 0}
    n_rows = len(next(iter(out.examples.values()))) if out.examples else 0
    examples = example_table({**out.examples, "sweep": cfg.sweep, "trial_id": cfg.trial_id, "n": cfg.n,
                              "seed": cfg.seed, "strategy": cfg.strategy, "arch": cfg.arch,
                              "schema_version": SCHEMA_VERSION}, n_rows)
    store.write(cfg.trial_id, trial_table([row], ctx.schema), examples)
    final = {k: v for k, v in out.row.items() if isinstance(v, (int, float))}
    tune.report({**final, "done": 1, "skipped": 0})


def error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()
