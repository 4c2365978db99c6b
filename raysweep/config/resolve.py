"""A validated spec resolved into typed trial configs, one per classifier, each with its id.

The sub-specs stay typed all the way down: a trial reads `cfg.strategy.params`,
`cfg.evaluate.attacks[i].key` and `cfg.train` as the spec's own objects, never as dicts to be
re-derived. The id is computed here and nowhere else.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from raysweep.config.schema import DatasetSpec, EvaluateSpec, StrategySpec, Strict, SweepSpec, TrainSpec


class TrialConfig(Strict):
    """One classifier of the sweep: the grid point plus everything that changes its result."""

    sweep: str
    trial_id: str
    dataset: DatasetSpec
    n: int
    seed: int
    arch: str
    strategy: StrategySpec
    train: TrainSpec
    evaluate: EvaluateSpec

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values: what crosses to Ray workers and lands in `config_json`."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrialConfig":
        return cls.model_validate(d)


def result_fields(cfg: TrialConfig) -> dict[str, Any]:
    """What decides a trial's numbers: everything but its name, its id and where it runs."""
    d = cfg.model_dump(mode="json", exclude={"sweep", "trial_id"})
    d["strategy"].pop("resources", None)  # scheduling, not results
    return d


def trial_id(fields: dict[str, Any]) -> str:
    """Deterministic id from the result-changing fields, so a re-run recognises finished trials."""
    blob = json.dumps(fields, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def expand(spec: SweepSpec) -> list[TrialConfig]:
    """The grid as trial configs: strategies x arch x N x seed (in that order)."""
    out = []
    for s in spec.strategies:
        for arch in spec.grid.arch:
            for n in spec.grid.n:
                for seed in spec.grid.seed:
                    cfg = TrialConfig(sweep=spec.name, trial_id="", dataset=spec.dataset, n=n, seed=seed,
                                      arch=arch, strategy=s, train=spec.train, evaluate=spec.evaluate)
                    out.append(cfg.model_copy(update={"trial_id": trial_id(result_fields(cfg))}))
    return out
