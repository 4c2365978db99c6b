"""The typed config of one trial (one classifier of a sweep), its registry facts and its id.

raysweep.resolve.trials builds these from a validated spec (one per grid point). The sub-specs
stay typed all the way down: a trial reads `cfg.strategy.params`,
`cfg.evaluate.attacks[i].key` and `cfg.train` as the spec's own objects, never as dicts to be
re-derived. The id is computed here and nowhere else (`identify`): a hash of everything that
decides the trial's numbers -- the resolved config with defaults filled in (raysweep.resolve.validate
fills them from the registries) and numbers normalised, the data's content hash, the VAE-GAN
settings where the trial uses learned manifolds, the trial function and plugins, and
RESULTS_VERSION -- and of nothing else: not the sweep's name, not resources, not where the data
lives on this machine (the content hash stands for it).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Optional

from raysweep.config.arch import ArchSpec
from raysweep.config.schema import (
    DEFAULT_TRIAL_FN, DatasetSpec, EvaluateSpec, ManifoldOptions, StrategySpec, Strict, TrainSpec,
)

# Bump when a change to the code changes the numbers a trial produces for the same config
# (a fixed bug in an attack, a new default init): old rows then no longer count as done.
# 3: CPU attack batches capped at 2^20 inputs (memory on small machines); 4: attacks on the folded
# fast copy of the model with 2^19-value CPU batches (speed: other random starts per image, float rounding)
RESULTS_VERSION = 4
# Data set options that say where the data lives, not what it is (the content hash says that).
LOCATION_OPTIONS = frozenset({"root", "cache_dir", "fonts_dir"})


class TrialFacts(Strict):
    """What the registries say about a resolved trial, derived once, where the trial is resolved
    (raysweep.resolve.facts), and read everywhere else: the driver (which manifold actors and
    whether a source model), the plan (pack and cost) and the trial itself (what to provide,
    which families its rows carry). A function of the config and the registered code, so it is
    no part of the trial id."""

    manifolds: tuple[str, ...] = ()  # manifold kinds ("true", "class", "data") the trial needs, sorted
    strategy_manifold: Optional[str] = None  # the manifold the strategy's inner attack runs on, if any
    source_model: bool = False  # a transfer attack needs the held-out source classifier (supplement E)
    strategy_family: Optional[str] = None  # the strategy's registry family (raysweep._core.registry)
    attack_families: dict[str, Optional[str]] = {}  # attack key -> its registry family
    fused: bool = False  # the built-in trial function and a strategy with a fused packed form

    @property
    def learned(self) -> bool:
        """Whether the trial uses a learned (VAE-GAN) manifold, served by the sweep's actors."""
        return bool(set(self.manifolds) & {"class", "data"})


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
    facts: Optional[TrialFacts] = None  # set by raysweep.resolve; None only for a config made by hand

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
    """What decides a trial's numbers: everything but its name, its id, where things run and its
    facts (they follow from the rest)."""
    d = cfg.model_dump(mode="json", exclude={"sweep", "trial_id", "facts"})
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
