"""Which models of a sweep share one Tune trial (packed trials, so one GPU trains many small
models at once; no Ray here).

A pack is a list of trial configs run by one trial process; the spec's `pack` says how to group:
- "none": every model is its own pack (one Tune trial per classifier, as before packing existed);
- "seeds": the seeds of one (strategy, arch, N) cell form one pack where the pack runs fused: the
  cell asks for a GPU and its strategy has a fused form (TrialFacts.fused), so its K models train
  as one PackedModel (raysweep.training.packed), K small models' kernels launched as one. Other
  cells stay one model per trial: run one after another, a pack only loses parallelism (measured
  on CPU, benchmarks/bench_sweep.py: 2.08 s overhead per model packed against 0.91 unpacked, the
  longest pack running alone at the end), and on a GPU fractional requests already share it.
Everything that makes results trustworthy stays per model: each member keeps its own trial id and
rows, a member whose rows exist is dropped from its pack before the pack runs (so a resumed or
retried pack never rewrites a finished model's rows), and failures are recorded per member.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from raysweep.config.trial_config import TrialConfig

PACK_KEY = "pack"  # the Tune trial's config: {"pack": [TrialConfig.to_dict(), ...]}


@dataclass(frozen=True)
class Pack:
    """The models one trial process runs, in order."""

    members: tuple[TrialConfig, ...]

    @property
    def strategy_key(self) -> str:
        return self.members[0].strategy.key  # one strategy per pack: its request is the pack's

    def to_config(self) -> dict[str, Any]:
        return {PACK_KEY: [m.to_dict() for m in self.members]}


def pack_name(trial_ids: Iterable[str]) -> str:
    """The Tune trial's name and directory: the trial id for a pack of one (so unpacked sweeps
    keep their names), else a hash of the member ids (stable across resumes)."""
    ids = list(trial_ids)
    if len(ids) == 1:
        return ids[0]
    return "pack-" + hashlib.sha256(",".join(ids).encode()).hexdigest()[:16]


def members_of(config: dict[str, Any]) -> list[TrialConfig]:
    """The trial configs of a Tune trial's config (what Pack.to_config wrote)."""
    return [TrialConfig.from_dict(d) for d in config[PACK_KEY]]


def name_of(config: dict[str, Any]) -> str:
    """The pack_name of a Tune trial's config."""
    return pack_name(d["trial_id"] for d in config[PACK_KEY])


def _cell(t: TrialConfig) -> tuple[str, str, int]:
    return t.strategy.key, t.arch.key, t.n


def runs_fused(t: TrialConfig, gpu_request: float) -> bool:
    """Whether a pack of t's cell trains fused: a fused form and a GPU request (after a GPU-less
    cluster dropped it); the worker then finds CUDA (raysweep.trial.pack.fusable)."""
    return gpu_request > 0 and t.facts.fused


def group(trials: list[TrialConfig], mode: str, packs: Callable[[TrialConfig], bool] = lambda t: True) -> list[Pack]:
    """The packs of `trials` (already without the finished ones) under the spec's `pack` mode,
    in the order of each pack's first member; members keep their grid order (seed order).
    `packs(t)` says whether t's cell is packed at all (`runs_fused` with its request)."""
    if mode not in ("none", "seeds"):
        raise ValueError(f"unknown pack mode {mode!r}")
    cells: dict[Any, list[TrialConfig]] = {}
    for t in trials:
        cells.setdefault(_cell(t) if mode == "seeds" and packs(t) else t.trial_id, []).append(t)
    return [Pack(tuple(members)) for members in cells.values()]


def pack_note(packs: list[Pack]) -> str:
    """The sweep start line's note (' in P packs') when some models share a trial; else empty."""
    models = sum(len(p.members) for p in packs)
    return f" in {len(packs)} packs" if len(packs) < models else ""
