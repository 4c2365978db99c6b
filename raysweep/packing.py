"""Which models of a sweep share one Tune trial (issue 16: packed trials; no Ray here).

A pack is a list of trial configs run by one trial process; the spec's `pack` says how to group:
- "none": every model is its own pack (one Tune trial per classifier, as before packing existed);
- "seeds": the seeds of one (strategy, arch, N) cell form one pack. They share a strategy, an
  architecture and N, so on a GPU they train as one PackedModel (raysweep.training.packed), and on
  CPU they run one after another in one process (data, manifolds and worker start paid once).
Everything that makes results trustworthy stays per model: each member keeps its own trial id and
rows, a member whose rows exist is dropped from its pack before the pack runs (so a resumed or
retried pack never rewrites a finished model's rows), and failures are recorded per member.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable

from raysweep.config.resolve import TrialConfig

PACK_KEY = "pack"  # the Tune trial's config: {"pack": [TrialConfig.to_dict(), ...]}


@dataclass(frozen=True)
class Pack:
    """The models one trial process runs, in order."""

    members: tuple[TrialConfig, ...]

    @property
    def name(self) -> str:
        """The Tune trial's name and directory: the trial id for a pack of one (so unpacked sweeps
        keep their names), else a hash of the member ids (stable across resumes)."""
        return pack_name([m.trial_id for m in self.members])

    @property
    def strategy_key(self) -> str:
        return self.members[0].strategy.key  # one strategy per pack: its request is the pack's

    def to_config(self) -> dict[str, Any]:
        return {PACK_KEY: [m.to_dict() for m in self.members]}


def pack_name(trial_ids: Iterable[str]) -> str:
    ids = list(trial_ids)
    if len(ids) == 1:
        return ids[0]
    return "pack-" + hashlib.sha256(",".join(ids).encode()).hexdigest()[:16]


def members_of(config: dict[str, Any]) -> list[TrialConfig]:
    """The trial configs of a Tune trial's config (what Pack.to_config wrote)."""
    return [TrialConfig.from_dict(d) for d in config[PACK_KEY]]


def name_of(config: dict[str, Any]) -> str:
    return pack_name(d["trial_id"] for d in config[PACK_KEY])


def _cell(t: TrialConfig) -> tuple[str, str, int]:
    return t.strategy.key, t.arch.key, t.n


def group(trials: list[TrialConfig], mode: str) -> list[Pack]:
    """The packs of `trials` (already without the finished ones) under the spec's `pack` mode,
    in the order of each pack's first member; members keep their grid order (seed order)."""
    if mode == "none":
        return [Pack((t,)) for t in trials]
    if mode != "seeds":
        raise ValueError(f"unknown pack mode {mode!r}")
    cells: dict[tuple[str, str, int], list[TrialConfig]] = {}
    for t in trials:
        cells.setdefault(_cell(t), []).append(t)
    return [Pack(tuple(members)) for members in cells.values()]
