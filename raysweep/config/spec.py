"""The sweep spec: one typed, validated description of a study (a YAML file under sweeps/).

A spec names the data set, the grids over training-set size N, seed and architecture, the
training strategies (Sec. 3.4-3.6 of the paper), the attacks and distance measurements run after
training (Sec. 3.1-3.3), resources, storage, concurrency and retries. `load_spec` validates all of
it before any work starts: a mistake becomes one UserError line naming the key path and the fix.
"""
from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from raysweep.config.yaml_file import read_yaml
from raysweep.errors import UserError

DEFAULT_TRIAL_FN = "raysweep.trial:run_trial"
# Modules whose import registers the names a spec may use; a package not written yet simply
# leaves its registry empty, and the spec then fails with "unknown ..." listing what exists.
REGISTERING_MODULES = ("raysweep.data", "raysweep.models", "raysweep.training.strategies", "raysweep.attacks")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(_Strict):
    """What one trial (or actor) asks Ray for; GPU may be fractional (bookkeeping only in Ray)."""

    cpu: float = Field(1.0, gt=0)  # always some CPU: a GPU-only request gets 0 CPUs in Tune
    gpu: float = Field(0.1, ge=0)


class ActorResources(_Strict):
    """A shared actor's share; CPU may be 0 so actors never block trials from starting."""

    cpu: float = Field(0.0, ge=0)
    gpu: float = Field(0.05, ge=0)


class DatasetSpec(_Strict):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)  # passed to load_dataset(name, **options)


class GridSpec(_Strict):
    n: list[int] = Field(min_length=1)
    seed: list[int] = Field(min_length=1)
    arch: list[str] = Field(default_factory=lambda: ["cnn"], min_length=1)


class StrategySpec(_Strict):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)  # factory(ctx, **params)
    resources: Optional[Resources] = None  # None: the spec's default resources


class TrainSpec(_Strict):
    """Paper Sec. 3.1: Adam, lr 0.01 decayed by 0.95 per epoch, weight decay 1e-4, batch 100, 20 epochs."""

    epochs: int = Field(20, ge=1)
    batch_size: int = Field(100, ge=1)
    lr: float = Field(0.01, gt=0)
    lr_decay: float = Field(0.95, gt=0, le=1)
    weight_decay: float = Field(1e-4, ge=0)


class AttackSpec(_Strict):
    name: str
    label: Optional[str] = None  # column prefix; defaults to name (two configs of one attack need labels)
    samples: int = Field(1000, ge=1)  # test images attacked (paper: 1000 off-manifold, 2500 on)
    restarts: int = Field(5, ge=1)
    params: dict[str, Any] = Field(default_factory=dict)  # ATTACKS.build(name, **params)

    @property
    def key(self) -> str:
        return self.label or self.name


class DistanceSpec(_Strict):
    """Distance of adversarial examples to the manifold (Sec. 3.2, supplement C).

    method is a name in raysweep.manifold.distance.DISTANCES: true, knn, learned_class, learned_data.
    """

    method: str  # quote "true" in YAML (a bare true is a boolean)
    attack: str  # label of an attack in evaluate.attacks whose examples are measured
    samples: int = Field(500, ge=1)  # successful (sample, restart) pairs measured
    k: Optional[int] = Field(None, ge=1)  # knn only: neighbours (paper: 50)
    center: Optional[Literal["clean", "mean"]] = None  # knn only: centre at x (paper) or the neighbours' mean
    params: dict[str, Any] = Field(default_factory=dict)  # other DISTANCES.build(method, **params) options

    def build_params(self) -> dict[str, Any]:
        extra = {k: v for k, v in (("k", self.k), ("center", self.center)) if v is not None}
        return {**self.params, **extra}

    @property
    def key(self) -> str:
        return f"{self.method}.{self.attack}"


class EvaluateSpec(_Strict):
    test_samples: Optional[int] = Field(None, ge=1)  # test images for the test error; None: all
    attacks: list[AttackSpec] = Field(default_factory=list)
    distances: list[DistanceSpec] = Field(default_factory=list)


class ManifoldSpec(_Strict):
    """Shared learned manifolds (VAE-GAN actors); options go to the actor that trains/loads them."""

    options: dict[str, Any] = Field(default_factory=dict)
    resources: ActorResources = ActorResources()
    keep: bool = False  # keep actors alive after the sweep (detached), for the next sweep


class SweepSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    dataset: DatasetSpec
    grid: GridSpec
    strategies: list[StrategySpec] = Field(min_length=1)
    train: TrainSpec = TrainSpec()
    evaluate: EvaluateSpec = EvaluateSpec()
    resources: Resources = Resources()
    manifolds: ManifoldSpec = ManifoldSpec()
    storage: str = "results"  # local path or a pyarrow.fs URI (s3://bucket/prefix)
    concurrency: Optional[int] = Field(None, ge=1)  # max concurrent trials; None: as resources allow
    retries: int = Field(2, ge=0)  # FailureConfig.max_failures per trial
    trial: str = DEFAULT_TRIAL_FN  # "module:function" running one trial (raysweep.trial protocol)
    plugins: list[str] = Field(default_factory=list)  # modules imported first (extra registrations)

    @model_validator(mode="after")
    def _cross_checks(self) -> "SweepSpec":
        labels = [a.key for a in self.evaluate.attacks]
        if len(set(labels)) != len(labels):
            raise ValueError("evaluate.attacks: two attacks share a label; give them distinct `label`s")
        keys = [d.key for d in self.evaluate.distances]
        if len(set(keys)) != len(keys):
            raise ValueError("evaluate.distances: one method measured twice on the same attack; remove the duplicate")
        for d in self.evaluate.distances:
            if d.method != "knn" and (d.k is not None or d.center is not None):
                raise ValueError(f"evaluate.distances: k and center apply to method knn only, not {d.method!r}")
            if d.attack not in labels:
                raise ValueError(f"evaluate.distances: attack {d.attack!r} is not in evaluate.attacks ({', '.join(labels) or 'none'})")
        return self

    def strategy_resources(self, s: StrategySpec) -> Resources:
        return s.resources or self.resources


@dataclass(frozen=True)
class TrialConfig:
    """One classifier of the sweep: the grid point plus everything that changes its result."""

    sweep: str
    trial_id: str
    dataset: str
    dataset_options: dict[str, Any]
    n: int
    seed: int
    arch: str
    strategy: str
    strategy_params: dict[str, Any]
    train: dict[str, Any]
    evaluate: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrialConfig":
        return cls(**d)


def trial_id(fields: dict[str, Any]) -> str:
    """Deterministic id from the result-changing config, so a re-run recognises finished trials."""
    blob = json.dumps(fields, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def expand(spec: SweepSpec) -> list[TrialConfig]:
    """The grid as trial configs: strategies x arch x N x seed (in that order)."""
    out = []
    evaluate = spec.evaluate.model_dump()
    for s in spec.strategies:
        for arch in spec.grid.arch:
            for n in spec.grid.n:
                for seed in spec.grid.seed:
                    fields = dict(dataset=spec.dataset.name, dataset_options=spec.dataset.options, n=n,
                                  seed=seed, arch=arch, strategy=s.name, strategy_params=s.params,
                                  train=spec.train.model_dump(), evaluate=evaluate)
                    out.append(TrialConfig(sweep=spec.name, trial_id=trial_id(fields), **fields))
    return out


def _format_error(source: str, err: ValidationError) -> str:
    e = err.errors()[0]
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"]).lstrip(".") or "(top level)"
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "value_error" and not e["loc"]:  # cross-field checks name their own keys
        return f"{source}: {msg}"
    if e["type"] == "extra_forbidden":
        msg = "unknown key; remove it or check its spelling"
    elif e["type"] == "missing":
        msg = "required key is missing; add it"
    elif "input" in e and not isinstance(e["input"], (dict, list)):
        msg = f"value {e['input']!r}: {msg}"
    return f"{source}: {path}: {msg}"


def import_plugins(modules: list[str]) -> None:
    for m in list(REGISTERING_MODULES) + list(modules):
        try:
            importlib.import_module(m)
        except ModuleNotFoundError as e:
            if m in modules or not (e.name and m.startswith(e.name)):
                raise UserError(f"plugins: cannot import {m!r} ({e}); fix the module name or PYTHONPATH") from None


def resolve_trial_fn(path: str):
    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ModuleNotFoundError, AttributeError, ValueError) as e:
        raise UserError(f"trial: cannot load {path!r} ({e}); use 'module:function'") from None


def _registry(module: str, attr: str, kind: str):
    """A registry by module path; a package not installed yet behaves as an empty registry."""
    from raysweep.registry import Registry

    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return Registry(kind)


def _check_names(spec: SweepSpec, source: str) -> None:
    """Every name must be registered; each check names the key path that holds the bad name."""
    from raysweep.data.dataset import DATASETS
    from raysweep.training.strategy import STRATEGIES

    MODELS = _registry("raysweep.models", "MODELS", "model")
    ATTACKS = _registry("raysweep.attacks", "ATTACKS", "attack")
    ATTACK_NEEDS = getattr(importlib.import_module("raysweep.attacks"), "ATTACK_NEEDS", {})

    checks = [("dataset.name", DATASETS, spec.dataset.name)]
    checks += [(f"grid.arch[{i}]", MODELS, a) for i, a in enumerate(spec.grid.arch)]
    checks += [(f"strategies[{i}].name", STRATEGIES, s.name) for i, s in enumerate(spec.strategies)]
    checks += [(f"evaluate.attacks[{i}].name", ATTACKS, a.name) for i, a in enumerate(spec.evaluate.attacks)]
    for path, registry, name in checks:
        try:
            registry.get(name)
        except UserError as e:
            raise UserError(f"{source}: {path}: {e}") from None
    for i, a in enumerate(spec.evaluate.attacks):
        try:  # building checks the hyperparameters; attacks hold no data, so this is cheap
            attack = ATTACKS.build(a.name, restarts=a.restarts, **a.params)
        except (UserError, TypeError) as e:
            raise UserError(f"{source}: evaluate.attacks[{i}].params: {e}") from None
        if getattr(attack, "needs", ATTACK_NEEDS.get(a.name)) == "source_model":
            raise UserError(f"{source}: evaluate.attacks[{i}]: transfer attack {a.name!r} needs a source model, "
                            "which sweeps do not train; remove it from the sweep")
    DISTANCES = _registry("raysweep.manifold.distance", "DISTANCES", "distance")
    for i, d in enumerate(spec.evaluate.distances):
        try:
            DISTANCES.build(d.method, **d.build_params())
        except (UserError, TypeError) as e:
            raise UserError(f"{source}: evaluate.distances[{i}]: {e}") from None


def _check_data(spec: SweepSpec, source: str) -> None:
    """N must fit the training split: load the (cached) data set once on the driver."""
    from raysweep.data.dataset import load_dataset

    ds = load_dataset(spec.dataset.name, **spec.dataset.options)
    n_train = len(ds.train)
    for n in spec.grid.n:
        if n > n_train:
            raise UserError(f"{source}: grid.n: value {n} exceeds the {n_train} training images of "
                            f"{spec.dataset.name}; lower it")
        if n < ds.n_classes:
            raise UserError(f"{source}: grid.n: value {n} is below the {ds.n_classes} classes of "
                            f"{spec.dataset.name} (subsets are class-balanced); raise it")
    n_test = len(ds.test)
    for i, a in enumerate(spec.evaluate.attacks):
        if a.samples > n_test:
            raise UserError(f"{source}: evaluate.attacks[{i}].samples: {a.samples} exceeds the {n_test} test images; lower it")


def parse_spec(data: Any, source: str = "spec") -> SweepSpec:
    """Validate a spec's structure (types, unknown keys, empty grids) without touching registries."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: a sweep spec must be a YAML mapping, got {type(data).__name__}")
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as e:
        raise UserError(_format_error(source, e)) from None


def load_spec(path: str | Path, check_data: bool = True) -> SweepSpec:
    """Read, parse and fully validate a spec file: structure, registered names, N vs. the data."""
    data = read_yaml(path, "sweep spec", "sweeps/fonts-smoke.yaml")
    spec = parse_spec(data, str(path))
    try:
        import_plugins(spec.plugins)
        resolve_trial_fn(spec.trial)
    except UserError as e:
        raise UserError(f"{path}: {e}") from None
    _check_names(spec, str(path))
    if check_data:
        _check_data(spec, str(path))
    return spec
