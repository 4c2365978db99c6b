"""`raysweep evaluate SPEC [--set KEY=VALUE ...] [--no-report]`: evaluate models trained elsewhere (checkpoints, torchvision or timm builders) like a sweep's trials, without training: test error, attacks, distances, the tables and the report.

The spec (raysweep.config.eval_spec) names the data set, the models and the `evaluate:` block
of a sweep spec. Each model is one trial row, its examples and its id (from the model's source
and the checkpoint's content) under <storage>/<name>/tables/, written by raysweep.trial's
evaluation and raysweep.results like a sweep's; no Ray is started. Attacks that need a learned
manifold need the sweep's manifold actors and are refused here.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import time

from raysweep.commands import describe
from raysweep.errors import UserError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="evaluate models trained elsewhere (no training): tables and report",
                              description=describe(__doc__))
    p.add_argument("spec", help="evaluation spec YAML (see raysweep/config/eval_spec.py)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a spec value (repeatable), e.g. --set evaluate.attacks.0.samples=100")
    p.add_argument("--no-report", action="store_true", help="write the tables only")
    p.set_defaults(func=run)


def load_eval_spec(path: str, overrides=()):
    """Read, override, parse and check an evaluation spec against the registries (no data yet)."""
    from raysweep import catalog
    from raysweep.config.eval_spec import EvalSpec
    from raysweep.config.overrides import apply_overrides
    from raysweep.config.parse import parse_model
    from raysweep.config.yaml_file import read_yaml
    from raysweep.validate import check_arch, check_dataset_options

    source = f"{path} (with --set {' '.join(overrides)})" if overrides else str(path)
    spec = parse_model(EvalSpec, apply_overrides(read_yaml(path, "evaluation spec", "an evaluate spec"), overrides),
                       source, "evaluation spec")
    try:
        catalog.load(spec.plugins)
        check_dataset_options(spec.dataset.name, spec.dataset.options, "dataset")
        for i, m in enumerate(spec.models):
            if m.arch is not None:
                check_arch(m.arch)
        attacks = catalog.registries()["attacks"]
        for i, a in enumerate(spec.evaluate.attacks):
            attacks.build(a.name, **a.build_params())
            if attacks.get(a.name).needs_for(a.params) in ("class", "data"):
                raise UserError(f"evaluate.attacks[{i}]: {a.name!r} needs a learned manifold, which only "
                                "`raysweep sweep` serves; drop it here")
    except (UserError, TypeError, ValueError) as e:
        raise UserError(f"{source}: {e}") from None
    return spec


def repeat_channels(model, channels: int):
    """The model behind a layer that repeats a gray image to the channels an ImageNet-style model
    expects ([B, 1, H, W] -> [B, channels, H, W])."""
    from torch import nn

    class RepeatChannels(nn.Module):
        def __init__(self, inner: nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x.expand(-1, channels, -1, -1) if x.shape[1] == 1 else x)

    return RepeatChannels(model)


def build(source, ds):
    """The model of one `models:` entry, with its weights, in eval mode."""
    from raysweep import storage
    from raysweep.models import build_model

    if source.arch is not None:
        model = build_model(source.arch.name, ds.image_shape, ds.n_classes, **source.arch.options)
    else:
        lib, _, fn = source.builder.partition(":")
        try:
            if lib == "timm":
                model = importlib.import_module("timm").create_model(fn, num_classes=ds.n_classes, **source.options)
            else:
                model = getattr(importlib.import_module("torchvision.models"), fn)(num_classes=ds.n_classes,
                                                                                  **source.options)
        except (ImportError, AttributeError, TypeError) as e:
            raise UserError(f"models: {source.label!r}: cannot build {source.builder!r} ({e})") from None
    if source.checkpoint is not None:
        state = storage.load_torch(source.checkpoint)
        if state is None:
            raise UserError(f"models: {source.label!r}: checkpoint {source.checkpoint!r} does not exist")
        state = state.get("model", state)  # a raysweep training checkpoint or a bare state dict
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise UserError(f"models: {source.label!r}: the checkpoint does not fit {source.arch_spec.key} "
                            f"({str(e).splitlines()[0]}); name the arch it was trained with") from None
    if source.input_channels and source.input_channels != ds.image_shape[0]:
        model = repeat_channels(model, source.input_channels)
    return model.eval()


def trial_for(spec, source, ds):
    """The TrialConfig of one model: its source (and the checkpoint's content) in place of training."""
    from raysweep import storage
    from raysweep.config.resolve import TrialConfig, identify
    from raysweep.config.schema import StrategySpec, TrainSpec

    params = {"builder": source.builder, "checkpoint": source.checkpoint, "input_channels": source.input_channels}
    if source.checkpoint is not None:
        params["checkpoint_sha256"] = hashlib.sha256(storage.read_bytes(source.checkpoint) or b"").hexdigest()
    strategy = StrategySpec(name="pretrained", label=source.label, params=params)
    cfg = TrialConfig(sweep=spec.name, trial_id="", dataset=spec.dataset, n=source.n, seed=spec.seed,
                      arch=source.arch_spec, strategy=strategy, evaluate=spec.evaluate, train=TrainSpec(),
                      data_hash=ds.data_hash, plugins=spec.plugins)
    return identify(cfg)


def true_manifold(spec, ds, device) -> dict:
    """{"true": FONTS' true manifold} when an attack or distance needs it (learned ones were
    refused by load_eval_spec); no strategy is involved, so catalog.manifold_needs does not apply."""
    from raysweep import catalog

    regs = catalog.registries()
    needs = {regs["attacks"].get(a.name).needs_for(a.params) for a in spec.evaluate.attacks}
    needs |= {regs["distances"].get(d.method).needs for d in spec.evaluate.distances}
    if "true" not in needs:
        return {}
    from raysweep.manifold.true import TrueManifold

    return {"true": TrueManifold.from_dataset(ds).to(device)}


# The training columns of a row describe raysweep's training, which these models never had.
NOT_TRAINED = {"train.epochs": None, "train.batch_size": None, "train.lr": None, "train.lr_decay": None,
               "train.weight_decay": None, "train_error": None, "train_time_s": None, "strategy_family": None}


def run(args: argparse.Namespace) -> int:
    from raysweep import storage, trial
    from raysweep.config.schema import GridSpec, StrategySpec, SweepSpec
    from raysweep.data import load_dataset
    from raysweep.device import default_device
    from raysweep.lease import acquire
    from raysweep.results.rows import ok_tables
    from raysweep.results.schema import trial_schema
    from raysweep.results.store import TableStore, samples_path

    spec = load_eval_spec(args.spec, args.overrides)
    ds = load_dataset(spec.dataset.name, **spec.dataset.options)
    device = default_device()
    table_spec = SweepSpec(name=spec.name, dataset=spec.dataset, grid=GridSpec(n=[1], seed=[spec.seed]),
                           strategies=[StrategySpec(name="pretrained")], evaluate=spec.evaluate)
    schema = trial_schema(table_spec, {f"strategy.{k}": "str" for k in
                                       ("builder", "checkpoint", "checkpoint_sha256", "input_channels")})
    store = TableStore(spec.storage, spec.name)
    with acquire(spec.storage, spec.name):
        for source in spec.models:
            cfg = trial_for(spec, source, ds)
            model = build(source, ds).to(device)
            manifolds = true_manifold(spec, ds, device)
            started = time.time()
            out = trial.evaluate_trial(cfg, model, ds, manifolds, device)
            measured = {**out.row, **NOT_TRAINED, "eval_time_s": time.time() - started, "device": str(device)}
            rows, examples = ok_tables(cfg, measured, out.examples, schema, started_at=started, finished_at=time.time())
            if out.samples:
                storage.save_torch(samples_path(spec.storage, spec.name, cfg.trial_id), out.samples)
            store.write(cfg.trial_id, rows, examples)
            print(f"{source.label}: test_error {out.row['test_error']:.4f}"
                  + "".join(f"  {a.key} {out.row.get(f'{a.key}.success_rate_any', float('nan')):.3f}"
                            for a in spec.evaluate.attacks))
    print(f"tables: {store.root.uri}")
    if not args.no_report:
        from raysweep.commands.analyze import run as analyze

        return analyze(argparse.Namespace(results_dir=(storage.resolve(spec.storage) / spec.name).uri, out=None,
                                          seed=0, arch=None))
    return 0
