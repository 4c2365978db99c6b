"""The sweep runner: spec -> Ray Tune trials -> Parquet tables, resumable.

1. Validate the spec and expand its grid into trial configs with deterministic ids.
2. Skip trials whose rows already exist (so re-running the command resumes, never duplicates).
3. Connect to Ray, size the per-strategy requests (GPU dropped on a GPU-less cluster), start the
   shared manifold actors the strategies/attacks need (before any trial, so they hold their share
   and trials cannot starve them), then run the trials with Tune: checkpoints every epoch, retries
   from the last checkpoint, reused actors, the spec's concurrency.
4. Record trials that failed after all retries as `status=failed` rows with their error.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Any, Optional, Sequence, TextIO

# Read by Tune when it is imported: skip the per-trial CSV/JSON/TensorBoard loggers (we write
# our own tables) and use the plain reporter so our progress callback is honoured.
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
# Checkpoints every epoch of many short trials trip Tune's "snapshotting too often" warning.
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")

import ray  # noqa: E402
from ray import tune  # noqa: E402

from raysweep._core import storage  # noqa: E402
from raysweep.config.trial_config import TrialConfig  # noqa: E402
from raysweep.config.schema import SweepSpec  # noqa: E402
from raysweep._core.errors import UserError  # noqa: E402
from raysweep.results.lease import acquire  # noqa: E402
from raysweep.driver.progress import Demand, SweepSummary  # noqa: E402
from raysweep.resolve.facts import manifold_kinds  # noqa: E402
from raysweep.resolve.packing import PACK_KEY, Pack, group, members_of, name_of, pack_note, runs_fused  # noqa: E402
from raysweep.results.rows import failed_table  # noqa: E402
from raysweep.results.schema import trial_schema  # noqa: E402
from raysweep.results.store import TableStore  # noqa: E402
from raysweep.tune.callbacks import tracking_callbacks  # noqa: E402
from raysweep.tune.progress_line import ProgressLine  # noqa: E402
from raysweep.tune.resume import EXPERIMENT, restore_or_new  # noqa: E402
from raysweep.resolve.plan import Request, estimate_seconds, strategy_requests  # noqa: E402
from raysweep.tune.actors import ManifoldHandles, alive_node_resources, ensure_manifold_actors, teardown  # noqa: E402
from raysweep.driver.preflight import check_address, check_requests_fit, leave_job_working_dir  # noqa: E402
from raysweep.trial.source_model import ensure_source_model  # noqa: E402
from raysweep.tune.source_task import fit_in_task  # noqa: E402
from raysweep.driver.manifold_table import write_manifold_table  # noqa: E402
from raysweep.tune.trainable import SweepContext, run_sweep_trial  # noqa: E402
from raysweep.resolve.validate import load_sweep, strategy_param_types  # noqa: E402

# Our metrics live in the Parquet tables; Tune's per-trial result files are off, so its
# "could not fetch metrics" warning after fit() is noise.
logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)


def connect(address: Optional[str], dashboard: bool = False) -> None:
    """Join a cluster (`auto`, `ray://...`, or RAY_ADDRESS from `ray job submit`) or start a local
    one, with Ray's dashboard only when asked (it costs memory and a port on a laptop)."""
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"namespace": "raysweep", "log_to_driver": True}
    if address or os.environ.get("RAY_ADDRESS"):
        kwargs["address"] = address or os.environ["RAY_ADDRESS"]
        check_address(kwargs["address"], "--address" if address else "RAY_ADDRESS")  # fail in seconds, not minutes
    else:
        kwargs["include_dashboard"] = dashboard
    try:
        context = ray.init(**kwargs)
        if dashboard and context.dashboard_url:
            print(f"raysweep: Ray dashboard at http://{context.dashboard_url}", file=sys.stderr)
    except ConnectionError as e:
        raise UserError(f"--address {address}: cannot connect to Ray ({e}); start the cluster or drop --address") from None


def start_manifold_actors(spec: SweepSpec, trials: list[TrialConfig], requests: dict[str, Request],
                          out: Optional[TextIO] = None) -> ManifoldHandles:
    """Create the learned-manifold actors the pending trials need, before Tuner.fit(), so they
    reserve their share first, after checking that they leave room for the trials' `requests`.
    The FONTS true manifold needs no actor (trials build it)."""
    return ensure_manifold_actors(spec.dataset, sorted(manifold_kinds(trials) - {"true"}), spec.storage, spec.manifolds.resources,
                                  options=spec.manifolds.options, detached=spec.manifolds.detached,
                                  progress=None if out is None else lambda line: print(line, file=out, flush=True),
                                  plugins=tuple(spec.plugins),
                                  trial_requests=[requests[t.strategy.key] for t in trials])


def _trainable(ctx: SweepContext, requests):
    fn = tune.with_parameters(run_sweep_trial, ctx=ctx)
    by_strategy = {k: r.as_dict() for k, r in requests.items()}
    return tune.with_resources(fn, lambda config: by_strategy[members_of(config)[0].strategy.key])  # per pack


def _tuner(spec: SweepSpec, trainable, packs: list[Pack], path: str, out: TextIO, already: int,
           serving: Optional[Demand] = None):
    run_config = tune.RunConfig(
        name=EXPERIMENT, storage_path=path,  # a local path or a URI Tune opens itself (s3://...)
        failure_config=tune.FailureConfig(max_failures=spec.retries),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1), verbose=0,
        callbacks=[ProgressLine(already_done=already, out=out, serving=serving), *tracking_callbacks(spec)],
    )
    tune_config = tune.TuneConfig(
        max_concurrent_trials=spec.concurrency, reuse_actors=True,
        trial_dirname_creator=lambda t: name_of(t.config), trial_name_creator=lambda t: name_of(t.config),
    )
    return tune.Tuner(trainable, param_space={PACK_KEY: tune.grid_search([p.to_config()[PACK_KEY] for p in packs])},
                      tune_config=tune_config, run_config=run_config)


def _record_failures(results, store: TableStore, schema) -> None:
    """A failed row for each model of a pack that errored after its retries and left no row."""
    done = store.done_ids()
    for r in results:
        for cfg in members_of(r.config) if r.error is not None else []:
            if cfg.trial_id not in done:
                store.write(cfg.trial_id, failed_table(cfg, f"{type(r.error).__name__}: {r.error}", schema))


def run_sweep(spec_path: str, address: Optional[str] = None, resume: bool = False,
              storage_uri: Optional[str] = None, out: Optional[TextIO] = None,
              retry_failed: bool = False, overrides: Sequence[str] = (), dashboard: bool = False) -> SweepSummary:
    """Run the sweep in `spec_path` (`raysweep sweep --dry-run` plans it: raysweep.commands.sweep); `storage_uri` overrides the spec's,
    `overrides` ("key.path=value", --set) its values before validation.

    A run holds the sweep's lease (raysweep.results.lease) from before anything is written or deleted to
    the end, so a second driver on the same sweep stops with one line naming the first."""
    out = out or sys.stderr
    spec, trials = load_sweep(spec_path, overrides=overrides)
    if storage_uri:  # where results go is not part of a trial's identity
        spec = spec.model_copy(update={"storage": storage_uri})
    store = TableStore(spec.storage, spec.name)
    with acquire(spec.storage, spec.name):
        for warning in store.upkeep(retry_failed):
            print(f"raysweep: warning: {warning}", file=out)
        return _run_held(spec, trials, store, address, resume, out, dashboard)


def _run_held(spec: SweepSpec, trials: list[TrialConfig], store: TableStore, address: Optional[str],
              resume: bool, out: TextIO, dashboard: bool = False) -> SweepSummary:
    done = store.done_ids()
    pending = [t for t in trials if t.trial_id not in done]
    if not pending:
        print(f"sweep {spec.name}: all {len(trials)} trials have rows in {store.root.uri}; nothing to do", file=out)
        return SweepSummary(len(trials), len(trials), 0, 0)
    # pin local storage to an absolute path before the driver may leave its directory
    spec = spec.model_copy(update={"storage": storage.uri(spec.storage)})
    leave_job_working_dir()
    connect(address, dashboard)
    requests = strategy_requests(spec, ray.cluster_resources().get("GPU", 0.0), out)
    # a request no node can hold would queue forever
    check_requests_fit(spec, requests, pending, alive_node_resources(), ray.cluster_resources().get("GPU", 0.0) > 0)
    schema = trial_schema(spec, strategy_param_types(spec))
    path = storage.join(spec.storage, spec.name)  # the sweep's folder: Tune's state goes under it
    actors = start_manifold_actors(spec, pending, requests, out)
    source = ensure_source_model(spec, pending, fit_in_task(spec.manifolds.resources.gpu))  # trained once
    write_manifold_table(spec, manifold_kinds(pending), source)
    ctx = SweepContext(storage=spec.storage, sweep=spec.name, schema=schema, trial_fn=spec.trial,
                       plugins=tuple(spec.plugins), manifold_actors=actors.names(), source_model=source,
                       checkpoint_every_s=spec.checkpoint_every_s, report_every_epoch=bool(spec.callbacks))
    # Longest first (by the cost estimate): short trials fill the gaps at the end instead of one
    # long trial running alone while the other slots idle.
    fused = lambda t: runs_fused(t, requests[t.strategy.key].gpu)  # noqa: E731
    packs = sorted(group(pending, spec.pack, fused), key=lambda p: -sum(estimate_seconds(spec, t) for t in p.members))
    print(f"sweep {spec.name}: {len(pending)} trials to run{pack_note(packs)}, {len(done)} already have rows", file=out)
    trainable = _trainable(ctx, requests)
    tuner = restore_or_new(path, trainable, pending, resume, out=out,
                           new_tuner=lambda: _tuner(spec, trainable, packs, path, out, len(done),
                                                    Demand("manifold actors", len(actors.all()), *actors.request)))
    try:
        results = tuner.fit()
    finally:
        teardown(actors)
    _record_failures(results, store, schema)
    finished, failed_ids = store.done_ids(), store.failed_ids()
    failed = sum(t.trial_id in failed_ids for t in pending)
    ok = sum(t.trial_id in finished for t in pending) - failed
    unfinished = len(pending) - ok - failed
    print(f"sweep {spec.name}: {ok} ok, {failed} failed, {len(done)} skipped; tables in {store.root.uri}", file=out)
    if unfinished:  # Tune returns normally after a Ctrl-C: say so, and let the CLI exit 130
        print(f"sweep {spec.name}: {unfinished} of {len(trials)} trials unfinished; rerun with --resume", file=out)
    return SweepSummary(len(trials), len(done), ok, failed, unfinished)
