"""Run one pack of trials (raysweep.resolve.packing) in one process, without Ray.

Two ways, with the same rows per model:
- sequential: each member through the sweep's trial function, one after another. This is how
  CPU runs packs (no launch overhead to save; raysweep.training.packed measured vmap at 0.6-0.9x),
  and how any trial function other than the built-in one runs. Each member checkpoints its own
  epochs, tagged with its trial id, so a retried pack resumes the member it was training.
- fused: the members train as one PackedModel (`train_packed(fused=True)`); test error and the
  image-space attacks run on the pack too (raysweep.trial.pack_eval), the rest per member. Used on CUDA
  for strategies with a fused form (normal and regular adversarial training,
  raysweep.training.packed_strategy), where one small model's step is launch-bound. The
  checkpoint is the whole pack's (tagged with the member ids). If a fused pack raises a
  UserError (a member diverged), the members rerun sequentially, so only the member that
  diverges fails, as it would alone.
Every member's result goes to `hooks.on_done` as soon as it exists, so a pack killed after its
first member keeps that member's rows.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional, Sequence

import torch

from raysweep.config.trial_config import TrialConfig
from raysweep._core.device import default_device
from raysweep._core.errors import UserError
from raysweep.training.packed import train_packed, use_fused
from raysweep.trial.artifacts import dataset_for, provide_manifolds
from raysweep.trial.pack_eval import evaluate_pack
from raysweep.trial.prepare import prepare
from raysweep.trial.protocol import TrialHooks, TrialOutput

MEMBER_KEY = "trial_id"  # a sequential member's checkpoint names its member
MEMBERS_KEY = "pack_members"  # a fused pack's checkpoint names all of them


@dataclass
class PackHooks:
    """What the caller hands a pack (the Tune trainable: reports, checkpoints and row writes).

    state:     the pack's last checkpoint (from on_epoch's state_fn), or None.
    on_epoch:  on_epoch(epoch, metrics, state_fn) after every epoch of a member or of the fused pack.
    on_done:   on_done(cfg, output, started_at, resumed_from_epoch) when a member has its result.
    on_failed: on_failed(cfg, message) when a member raised a UserError (deterministic: no retry).
    """

    on_done: Callable[[TrialConfig, TrialOutput, float, int], None]
    on_failed: Callable[[TrialConfig, str], None]
    state: Optional[dict[str, Any]] = None
    on_epoch: Optional[Callable[..., None]] = None
    manifolds: dict[str, Any] = field(default_factory=dict)
    device: Optional[torch.device] = None


def fusable(members: Sequence[TrialConfig], device: torch.device) -> bool:
    """Whether the pack trains fused: more than one member, one N and strategy (a seeds pack always
    has), a fused form (TrialFacts.fused) and a device where it pays (CUDA)."""
    return (len(members) > 1 and len({m.n for m in members}) == 1 and len({m.strategy.key for m in members}) == 1
            and members[0].facts.fused and use_fused(device, members[0].strategy.name))


def run_pack(members: Sequence[TrialConfig], hooks: PackHooks, trial_fn: Callable[..., TrialOutput],
             fused: Optional[bool] = None) -> None:
    """Train and evaluate every member; results (or failures) go to the hooks member by member."""
    device = hooks.device or default_device()
    if fused is None:
        fused = fusable(members, device)
    done: set[str] = set()
    report = hooks.on_done

    def on_done(cfg: TrialConfig, out: TrialOutput, started: float, resumed: int) -> None:
        report(cfg, out, started, resumed)
        done.add(cfg.trial_id)

    hooks = replace(hooks, on_done=on_done)
    if fused and len(members) > 1:
        try:
            return _run_fused(list(members), hooks, device)
        except UserError:  # one member diverged: alone, only that member fails
            hooks = replace(hooks, state=None)
    for cfg in members:
        if cfg.trial_id not in done:  # never a second row for a member
            _run_one(cfg, hooks, trial_fn, device)


def _run_one(cfg: TrialConfig, hooks: PackHooks, trial_fn: Callable[..., TrialOutput], device: torch.device) -> None:
    state = hooks.state if hooks.state is not None and hooks.state.get(MEMBER_KEY) == cfg.trial_id else None

    def on_epoch(epoch: int, metrics: dict[str, float], state_fn: Callable[[], dict[str, Any]]) -> None:
        if hooks.on_epoch is not None:
            hooks.on_epoch(epoch, metrics, lambda: {**state_fn(), MEMBER_KEY: cfg.trial_id})

    started = time.time()
    try:
        out = trial_fn(cfg, TrialHooks(state=state, on_epoch=on_epoch, manifolds=hooks.manifolds, device=device))
    except UserError as e:
        hooks.on_failed(cfg, f"UserError: {e}")
        return
    hooks.on_done(cfg, out, started, int(state["epoch"]) if state else 0)


def _run_fused(members: list[TrialConfig], hooks: PackHooks, device: torch.device) -> None:
    """Members trained as one PackedModel and evaluated as one where that runs fused
    (raysweep.trial.pack_eval): each member's rows are what run_trial gives it."""
    started = time.time()
    ds = dataset_for(members[0])
    manifolds = provide_manifolds(members[0], ds, hooks.manifolds, device)
    ids = [m.trial_id for m in members]
    state = hooks.state if hooks.state is not None and hooks.state.get(MEMBERS_KEY) == ids else None
    rows = state["epoch_rows"] if state else [None] * len(members)
    prepared = [prepare(cfg, ds, manifolds, device, {"epoch_rows": r} if r else None)
                for cfg, r in zip(members, rows)]

    def on_epoch(epoch: int, metrics: list[dict[str, float]], state_fn: Callable[[], dict[str, Any]]) -> None:
        for p, m in zip(prepared, metrics):
            p.log(epoch, m, dict)  # the member's learning-curve row (its model holds this epoch's weights)
        if hooks.on_epoch is not None:
            summary = {"train_loss": sum(m["train_loss"] for m in metrics) / len(metrics), "epoch": float(epoch)}
            hooks.on_epoch(epoch, summary, lambda: {**state_fn(), MEMBERS_KEY: ids,
                                                    "epoch_rows": [list(p.log.rows) for p in prepared]})

    results = train_packed([p.model for p in prepared], [p.split for p in prepared],
                           [p.strategy for p in prepared], members[0].train, seeds=[m.seed for m in members],
                           device=device, fused=True, state=state, on_epoch=on_epoch)
    stats = [p.stats(r.train_time_s, r.history, cfg.facts.strategy_family) for cfg, p, r in zip(members, prepared, results)]
    outs = evaluate_pack(members, [p.model for p in prepared], stats, ds, manifolds, device)
    for cfg, out in zip(members, outs):
        hooks.on_done(cfg, out, started, int(state["epoch"]) if state else 0)
