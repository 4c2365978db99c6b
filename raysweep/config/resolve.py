"""A validated spec resolved into typed trial configs, one per classifier, each with its id.

The sub-specs stay typed all the way down: a trial reads `cfg.strategy.params`,
`cfg.evaluate.attacks[i].key` and `cfg.train` as the spec's own objects, never as dicts to be
re-derived. The id is computed here and nowhere else (`identify`): a hash of everything that
decides the trial's numbers -- the resolved config with defaults filled in (raysweep.validate
fills them from the registries) and numbers normalised, the data's content hash, the VAE-GAN
settings where the trial uses learned manifolds, the trial function and plugins, and
RESULTS_VERSION -- and of nothing else: not the sweep's name, not resources, not where the data
lives on this machine (the content hash stands for it).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Optional

from raysweep.config.arch import ArchSpec
from raysweep.config.schema import (
    DEFAULT_TRIAL_FN, DatasetSpec, EvaluateSpec, ManifoldOptions, StrategySpec, Strict, SweepSpec, TrainSpec,
)

# Bump when a change to the code changes the numbers a trial produces for the same config
# (a fixed bug in an attack, a new default init): old rows then no longer count as done.
# 3: CPU attack batches capped at 2^20 inputs (issue 11); 4: attacks on the folded fast copy of the
# model with 2^19-value CPU batches (issue 11: other random starts per image, float rounding)
RESULTS_VERSION = 4
# Data set options that say where the data lives, not what it is (the content hash says that).
LOCATION_OPTIONS = frozenset({"root", "cache_dir", "fonts_dir"})


class TrialConfig(Strict):
    """One classifier of the sweep: the grid point plus everything that changes its result."""

    sweep: str
    trial_id: str
    dataset: DatasetSpec
    n: int
    seed: int
    arch: ArchSpec  # name + options; serialises to the bare name without options (ids unchanged)
    strategy: StrategySpec
    train: TrainSpec
    evaluate: EvaluateSpec
    data_hash: str = ""  # the data set's content hash (Dataset.meta["content_hash"]); "" unchecked
    manifolds: Optional[ManifoldOptions] = None  # VAE-GAN settings, for trials that use learned manifolds
    lambda_table_hash: str = ""  # content of manifolds.lambda_table, when one is used
    trial_fn: str = DEFAULT_TRIAL_FN
    plugins: list[str] = []
    results_version: int = RESULTS_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values: what crosses to Ray workers and lands in `config_json`."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrialConfig":
        return cls.model_validate(d)


def normalise(value: Any) -> Any:
    """Numbers as one canonical form: 5 and 5.0 hash alike; containers recursively."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    return value


def result_fields(cfg: TrialConfig) -> dict[str, Any]:
    """What decides a trial's numbers: everything but its name, its id and where things run."""
    d = cfg.model_dump(mode="json", exclude={"sweep", "trial_id"})
    d["strategy"].pop("resources", None)  # scheduling, not results
    d["strategy"].pop("label", None)  # a column name, not a result
    for a in d["evaluate"]["attacks"]:
        a.pop("label", None)
        if a.get("min_eps_steps") is None:  # left out: the ids of specs from before it existed stay
            a.pop("min_eps_steps", None)
    if cfg.data_hash:  # the content stands for the location
        d["dataset"]["options"] = {k: v for k, v in d["dataset"]["options"].items() if k not in LOCATION_OPTIONS}
    return normalise(d)


def trial_id(fields: dict[str, Any]) -> str:
    """Deterministic id from the result-changing fields, so a re-run recognises finished trials."""
    blob = json.dumps(fields, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def identify(cfg: TrialConfig) -> TrialConfig:
    return cfg.model_copy(update={"trial_id": trial_id(result_fields(cfg))})


def expand(spec: SweepSpec, data_hash: str = "", lambda_table_hash: str = "",
           uses_learned: Callable[[TrialConfig], bool] = lambda cfg: False) -> list[TrialConfig]:
    """The grid as trial configs: strategies x arch x N x seed (in that order).

    uses_learned(cfg) says whether a trial uses learned manifolds (raysweep.catalog knows), so
    only those trials carry, and are identified by, the VAE-GAN settings.
    """
    out = []
    for s in spec.strategies:
        for arch in spec.grid.arch:
            for n in spec.grid.n:
                for seed in spec.grid.seed:
                    cfg = TrialConfig(sweep=spec.name, trial_id="", dataset=spec.dataset, n=n, seed=seed,
                                      arch=arch, strategy=s, train=spec.train, evaluate=spec.evaluate,
                                      data_hash=data_hash, trial_fn=spec.trial, plugins=spec.plugins)
                    if uses_learned(cfg):
                        cfg = cfg.model_copy(update={"manifolds": spec.manifolds.options,
                                                     "lambda_table_hash": lambda_table_hash})
                    out.append(identify(cfg))
    return out
