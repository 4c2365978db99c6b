"""The one validation pass over a spec, through the registries, before any work starts.

`load_spec(path)` reads the YAML, checks its structure (raysweep.config.parse), loads the
plugins (raysweep.catalog), then checks every name **and its parameters** against the registry
that owns it: data set (option names), architectures, strategies (their typed parameters, via
the entry's `check`), attacks and distances (built: they hold no data), manifold options and
VAE-GAN overrides, the trial function. With `check_data` it also loads the (cached) data set
once and checks the sizes the spec implies: every N against the training split, every attack's
samples against the test split, and true-manifold needs against data sets that have one.
Each mistake is one UserError line naming the key path and the fix.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable

from raysweep import catalog
from raysweep.config.lambda_spec import LambdaSpec, load_lambda_spec as read_lambda_spec
from raysweep.config.parse import parse_spec
from raysweep.config.resolve import expand
from raysweep.config.schema import SweepSpec
from raysweep.config.yaml_file import read_yaml
from raysweep.errors import UserError


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


def check_vaegan(overrides: dict[str, Any], path: str) -> None:
    from raysweep.vaegan.config import VAEGANConfig, check_overrides

    _at(path, lambda: check_overrides(overrides))
    _at(path, lambda: VAEGANConfig.for_dataset("fonts", (1, 28, 28), None, **overrides))  # types and values


def check_names_and_params(spec: SweepSpec) -> None:
    regs = catalog.registries()
    check_dataset_options(spec.dataset.name, spec.dataset.options, "dataset")
    for i, arch in enumerate(spec.grid.arch):
        _at(f"grid.arch[{i}]", lambda: regs["models"].get(arch))
    for i, s in enumerate(spec.strategies):
        entry = _at(f"strategies[{i}].name", lambda: regs["strategies"].get(s.name))
        if entry.check is not None:
            _at(f"strategies[{i}].params", lambda: entry.check(**s.params))
    for i, a in enumerate(spec.evaluate.attacks):
        entry = _at(f"evaluate.attacks[{i}].name", lambda: regs["attacks"].get(a.name))
        _at(f"evaluate.attacks[{i}].params", lambda: entry.factory(**a.build_params()))
    for i, d in enumerate(spec.evaluate.distances):
        entry = _at(f"evaluate.distances[{i}].method", lambda: regs["distances"].get(d.method))
        _at(f"evaluate.distances[{i}]", lambda: entry.factory(**d.build_params()))
    check_vaegan(spec.manifolds.options.vaegan, "manifolds.options.vaegan")


def check_data(spec: SweepSpec) -> None:
    """N, attacked samples and true-manifold needs against the data set (loaded once, cached)."""
    from raysweep.data.dataset import load_dataset

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
    has_true = ds.train.z is not None and "prototypes" in ds.meta
    if not has_true and any("true" in catalog.manifold_needs(t) for t in expand(spec)):
        raise UserError(f"{spec.dataset.name!r} has no true manifold, which a strategy, attack or distance of the "
                        "spec needs (only FONTS has one); use the class or data manifold instead")


def validate_spec(spec: SweepSpec, source: str, with_data: bool = True) -> SweepSpec:
    """Every registry check (and with_data, the size checks), each error prefixed by `source`."""
    try:
        catalog.load(spec.plugins)
        catalog.resolve_trial_fn(spec.trial)
        check_names_and_params(spec)
        if with_data:
            check_data(spec)
    except UserError as e:
        raise UserError(f"{source}: {e}") from None
    return spec


def load_spec(path: str | Path, check_data: bool = True) -> SweepSpec:
    """Read, parse and fully validate a sweep spec file."""
    data = read_yaml(path, "sweep spec", "sweeps/fonts-smoke.yaml")
    return validate_spec(parse_spec(data, str(path)), str(path), with_data=check_data)


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
