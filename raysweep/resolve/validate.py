"""The one validation pass over a spec, through the registries, before any work starts.

`load_spec(path)` reads the YAML, checks its structure (raysweep.config.parse), loads the
plugins (raysweep.resolve.catalog), then checks every name **and its parameters** against the registry
that owns it: data set (option names), architectures, strategies (their typed parameters, via
the entry's `check`), attacks and distances (built: they hold no data), manifold options and
VAE-GAN overrides, the trial function. With `check_data` it also loads the (cached) data set
once and checks the sizes the spec implies: every N against the training split, every attack's
samples against the test split, and true-manifold needs against data sets that have one.
Each mistake is one UserError line naming the key path and the fix.
"""
from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import pydantic
import torch

from raysweep.attacks.min_eps import check_attack as check_min_eps
from raysweep.attacks.peers import missing_peer
from raysweep.config.arch import ArchSpec
from raysweep.config.lambda_spec import LambdaSpec, load_lambda_spec as read_lambda_spec
from raysweep.config.overrides import apply_overrides
from raysweep.config.parse import parse_spec
from raysweep.config.schema import AttackSpec, EvaluateSpec, SweepSpec
from raysweep.config.trial_config import TrialConfig
from raysweep.config.yaml_file import read_yaml
from raysweep.data import load_dataset
from raysweep._core.errors import UserError
from raysweep.models import build_model
from raysweep._core.params import typed
from raysweep.resolve import catalog
from raysweep.resolve.facts import manifold_kinds
from raysweep.resolve.trackers import check_callbacks
from raysweep.resolve.trials import resolve_trials
from raysweep.results.names import strategy_column
from raysweep.vaegan.config import VAEGANConfig, check_overrides


def _at(path: str, check: Callable[[], Any]) -> Any:
    """Run `check`, prefixing a UserError (or a factory's TypeError) with the key path."""
    try:
        return check()
    except (UserError, TypeError, ValueError) as e:
        raise UserError(f"{path}: {e}") from None


def check_dataset_options(name: str, options: dict[str, Any], path: str) -> None:
    """The data set exists and takes these options (its entry's check: names and types, cheap)."""
    entry = _at(f"{path}.name", lambda: catalog.registries()["datasets"].get(name))
    if entry.check is not None:
        _at(f"{path}.options", lambda: entry.check(**options))
    elif not any(p.kind == p.VAR_KEYWORD for p in inspect.signature(entry.factory).parameters.values()):
        _at(f"{path}.options", lambda: inspect.signature(entry.factory).bind(**options))


def check_arch(arch: ArchSpec) -> None:
    """The model exists and builds with these options (names and values) for a 28x28 gray input,
    on the meta device: no memory for the weights and no forward pass, since the options, not the
    data, are being checked."""
    entry = catalog.registries()["models"].get(arch.name)
    params = inspect.signature(entry.factory).parameters.values()
    if arch.options and not any(p.kind == p.VAR_KEYWORD for p in params):
        inspect.signature(entry.factory).bind(in_shape=(1, 28, 28), n_classes=10, **arch.options)
    with torch.device("meta"):
        build_model(arch.name, (1, 28, 28), 10, **arch.options)


def check_vaegan(overrides: dict[str, Any], path: str) -> None:
    """The spec's VAE-GAN overrides: known names, then types and values (a config is built)."""
    _at(path, lambda: check_overrides(overrides))
    _at(path, lambda: VAEGANConfig.for_dataset("fonts", (1, 28, 28), None, **overrides))  # types and values


def check_attack(a: AttackSpec, path: str) -> Optional[str]:
    """An `evaluate.attacks` entry's name and parameters (it is built: attacks hold no data);
    returns what it needs (a manifold kind, the source model, or None). A peer attack whose
    package is missing names the extra to install."""
    hint = missing_peer(a.name)
    if hint:
        raise UserError(f"{path}.name: {hint}")
    entry = _at(f"{path}.name", lambda: catalog.registries()["attacks"].get(a.name))
    attack = _at(f"{path}.params", lambda: entry.factory(**a.build_params()))
    if a.min_eps_steps is not None:  # the bisection needs an attack whose step follows eps
        _at(f"{path}.min_eps_steps", lambda: check_min_eps(attack))
    return entry.needs_for(a.params)


def check_names_and_params(spec: SweepSpec) -> None:
    regs = catalog.registries()
    check_dataset_options(spec.dataset.name, spec.dataset.options, "dataset")
    for i, arch in enumerate(spec.grid.arch):
        _at(f"grid.arch[{i}]", lambda: check_arch(arch))
    for i, s in enumerate(spec.strategies):
        entry = _at(f"strategies[{i}].name", lambda: regs["strategies"].get(s.name))
        if entry.check is not None:
            _at(f"strategies[{i}].params", lambda: entry.check(**s.params))
    for i, a in enumerate(spec.evaluate.attacks):
        check_attack(a, f"evaluate.attacks[{i}]")
    for i, d in enumerate(spec.evaluate.distances):
        entry = _at(f"evaluate.distances[{i}].method", lambda: regs["distances"].get(d.method))
        _at(f"evaluate.distances[{i}]", lambda: entry.factory(**d.build_params()))
    check_vaegan(spec.manifolds.options.vaegan, "manifolds.options.vaegan")
    check_callbacks(spec.callbacks)


def check_data(spec: SweepSpec):
    """N and attacked samples against the data set (loaded once, cached); returns the data set."""
    ds = _at("dataset.options", lambda: load_dataset(spec.dataset.name, **spec.dataset.options))
    n_train, n_test = len(ds.train), len(ds.test)
    for n in spec.grid.n:
        if n > n_train:
            raise UserError(f"grid.n: value {n} exceeds the {n_train} training images of {spec.dataset.name}; lower it")
        if n < ds.n_classes:
            raise UserError(f"grid.n: value {n} is below the {ds.n_classes} classes of "
                            f"{spec.dataset.name} (subsets are class-balanced); raise it")
    for i, a in enumerate(spec.evaluate.attacks):
        if a.samples > n_test:
            raise UserError(f"evaluate.attacks[{i}].samples: {a.samples} exceeds the {n_test} test images; lower it")
    return ds


def check_true_manifold(spec: SweepSpec, ds, trials: list[TrialConfig]) -> None:
    """A trial that needs the true manifold needs a data set that has one (only FONTS)."""
    has_true = ds.train.z is not None and "prototypes" in ds.meta
    if not has_true and "true" in manifold_kinds(trials):
        raise UserError(f"{spec.dataset.name!r} has no true manifold, which a strategy, attack or distance of the "
                        "spec needs (only FONTS has one); use the class or data manifold instead")


def fill_defaults(spec: SweepSpec) -> SweepSpec:
    """The spec with every strategy's and attack's parameters written out from the registries, so a
    default left out and the same default written out resolve to the same trial (and id)."""
    regs = catalog.registries()
    strategies = []
    for s in spec.strategies:
        entry = regs["strategies"].get(s.name)
        params = dict(s.params)
        if entry.params is not None:
            params = dataclasses.asdict(typed(entry.params, s.params, f"strategy {s.name!r}"))
        strategies.append(s.model_copy(update={"params": params}))
    return spec.model_copy(update={"strategies": strategies, "evaluate": fill_attack_defaults(spec.evaluate)})


def fill_attack_defaults(evaluate: EvaluateSpec) -> EvaluateSpec:
    """`evaluate` with every attack's parameters and restarts written out from its registry entry."""
    attacks = []
    for i, a in enumerate(evaluate.attacks):
        config = dataclasses.asdict(catalog.registries()["attacks"].build(a.name, **a.build_params()).config)
        filled = {**a.model_dump(), "restarts": config["restarts"],
                  "params": {k: v for k, v in config.items() if k != "restarts"}}
        try:  # validated again: the limits on samples x restarts apply to the attack's own default too
            attacks.append(type(a).model_validate(filled))
        except pydantic.ValidationError as e:
            raise UserError(f"evaluate.attacks[{i}]: {e.errors()[0]['msg'].removeprefix('Value error, ')}") from None
    return evaluate.model_copy(update={"attacks": attacks})


def strategy_param_types(spec: SweepSpec) -> dict[str, str]:
    """`strategy.<key>` -> the declared type of each strategy parameter (from the entries'
    parameter dataclasses), so every file of a sweep has the same column types."""
    regs = catalog.registries()
    out: dict[str, str] = {}
    for s in spec.strategies:
        cls = regs["strategies"].get(s.name).params
        declared = {f.name: str(f.type) for f in dataclasses.fields(cls)} if cls is not None else {}
        for k in s.params:
            t = declared.get(k, "str")
            out[strategy_column(k)] = t if out.get(strategy_column(k), t) == t else "str"  # conflicting: text
    return out


def validate_and_resolve(spec: SweepSpec, source: str, with_data: bool = True) -> tuple[SweepSpec, list[TrialConfig]]:
    """Every registry check (and with_data, the size checks), each error prefixed by `source`:
    the spec with its defaults filled in (fill_defaults) and its resolved trials with their ids
    and facts (raysweep.resolve.trials)."""
    try:
        catalog.load(spec.plugins)
        catalog.resolve_trial_fn(spec.trial)
        check_names_and_params(spec)
        spec = fill_defaults(spec)
        ds = check_data(spec) if with_data else None
        trials = resolve_trials(spec, ds)
        if ds is not None:
            check_true_manifold(spec, ds, trials)
        return spec, trials
    except UserError as e:
        raise UserError(f"{source}: {e}") from None


def load_spec(path: str | Path, check_data: bool = True, overrides: Sequence[str] = ()) -> SweepSpec:
    """Read, parse and fully validate a sweep spec file; `overrides` ("key.path=value", the CLI's
    --set) are applied to the raw mapping first, so they are validated like the file itself."""
    return load_sweep(path, check_data, overrides)[0]


def load_sweep(path: str | Path, check_data: bool = True,
               overrides: Sequence[str] = ()) -> tuple[SweepSpec, list[TrialConfig]]:
    """Read, parse, validate and resolve a sweep spec file: (spec, trials with their ids)."""
    data = apply_overrides(read_yaml(path, "sweep spec", "sweeps/fonts-smoke.yaml"), overrides)
    source = f"{path} (with --set {' '.join(overrides)})" if overrides else str(path)
    return validate_and_resolve(parse_spec(data, source), source, with_data=check_data)


def load_lambda_spec(path: str | Path) -> LambdaSpec:
    """Read and parse a lambda spec, then check its data set options and VAE-GAN overrides."""
    spec = read_lambda_spec(path)
    try:
        catalog.load()
        check_dataset_options(spec.dataset.name, spec.dataset.options, "dataset")
        check_vaegan(spec.vaegan, "vaegan")
    except UserError as e:
        raise UserError(f"{path}: {e}") from None
    return spec
