"""`raysweep evaluate`'s spec through the same validation and resolution as a sweep's: structure
(raysweep.config.parse), then every name and parameter against the registries with the sweep
validator's own checks (raysweep.resolve.validate), then one resolved TrialConfig per model,
with its id and registry facts. The models themselves are built by raysweep.commands.evaluate.
"""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

from raysweep._core import storage
from raysweep.config.eval_spec import EvalSpec, ModelSource
from raysweep.config.overrides import apply_overrides
from raysweep.config.parse import parse_model
from raysweep.config.schema import GridSpec, StrategySpec, SweepSpec, TrainSpec
from raysweep.config.trial_config import TrialConfig, identify
from raysweep.config.yaml_file import read_yaml
from raysweep.data import Dataset
from raysweep._core.errors import UserError
from raysweep.resolve import catalog
from raysweep.resolve.facts import evaluation_facts
from raysweep.resolve.validate import check_arch, check_attack, check_dataset_options, fill_attack_defaults

PRETRAINED = "pretrained"  # the `strategy_name` of a model trained elsewhere (its label is the `strategy`)


def load_eval_spec(path: str, overrides: Sequence[str] = ()) -> EvalSpec:
    """Read, override, parse and check an evaluation spec file against the registries (no data yet)."""
    source = f"{path} (with --set {' '.join(overrides)})" if overrides else str(path)
    return check_eval_spec(read_yaml(path, "evaluation spec", "an evaluate spec"), source, overrides)


def check_eval_spec(data: Any, source: str, overrides: Sequence[str] = ()) -> EvalSpec:
    """An evaluation spec mapping, overridden, parsed and checked against the registries; its
    attacks' defaults filled in (raysweep.resolve.validate.fill_attack_defaults)."""
    spec = parse_model(EvalSpec, apply_overrides(data, overrides), source, "evaluation spec")
    try:
        catalog.load(spec.plugins)
        check_dataset_options(spec.dataset.name, spec.dataset.options, "dataset")
        for m in spec.models:
            if m.arch is not None:
                check_arch(m.arch)
        for i, a in enumerate(spec.evaluate.attacks):
            if check_attack(a, f"evaluate.attacks[{i}]") in ("class", "data"):
                raise UserError(f"evaluate.attacks[{i}]: {a.name!r} needs a learned manifold, which only "
                                "`raysweep sweep` serves; drop it here")
        spec = spec.model_copy(update={"evaluate": fill_attack_defaults(spec.evaluate)})
    except (UserError, TypeError, ValueError) as e:
        raise UserError(f"{source}: {e}") from None
    return spec


def eval_trial(spec: EvalSpec, source: ModelSource, ds: Dataset) -> TrialConfig:
    """The TrialConfig of one model: its source (and the files' content) in place of training."""
    params = {"builder": source.builder, "checkpoint": source.checkpoint, "input_channels": source.input_channels,
              "script": source.script, "pickled": source.pickled}
    for key in ("checkpoint", "script", "pickled"):  # the content, not the path, decides the numbers
        if getattr(source, key) is not None:
            params[f"{key}_sha256"] = hashlib.sha256(storage.read_bytes(getattr(source, key)) or b"").hexdigest()
    strategy = StrategySpec(name=PRETRAINED, label=source.label, params=params)
    seed = spec.seed if source.seed is None else source.seed
    cfg = TrialConfig(sweep=spec.name, trial_id="", dataset=spec.dataset, n=source.n, seed=seed,
                      arch=source.arch_spec, strategy=strategy, evaluate=spec.evaluate, train=TrainSpec(),
                      data_hash=ds.data_hash, plugins=spec.plugins, facts=evaluation_facts(spec.evaluate))
    return identify(cfg)


def table_spec(spec: EvalSpec) -> SweepSpec:
    """The sweep-shaped spec the trial schema is built from (one 'pretrained' strategy)."""
    return SweepSpec(name=spec.name, dataset=spec.dataset, grid=GridSpec(n=[1], seed=[spec.seed]),
                     strategies=[StrategySpec(name=PRETRAINED)], evaluate=spec.evaluate)
