"""`raysweep evaluate MODEL --dataset NAME [--attacks linf,apgd_ce] [--samples K] [--weights FILE]` or `raysweep evaluate SPEC`: clean and robust accuracy of a model you already have, per attack and worst case, without training.

MODEL is a TorchScript file, `module:Class` or `module:function` with --weights (a state dict), a
registered architecture with --weights, or a `raysweep train --out` folder; a whole pickled
module (torch.save(model)) loads only with --trust-pickle, because unpickling runs code. As in
AutoAttack and RobustBench, the model takes float images in [0,1], NCHW (1x28x28 for FONTS,
EMNIST and F-MNIST), and returns logits. An evaluation spec (raysweep/config/eval_spec.py) lists
many models instead. Each model is one trial row with its examples under
<storage>/<name>/tables/, written like a sweep's; a rerun reuses finished rows; no Ray is started.
Attacks that need a learned manifold need the sweep's manifold actors and are refused here.
"""
from __future__ import annotations

import argparse
import hashlib
import time

from raysweep.commands import describe
from raysweep.errors import UserError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="clean and robust accuracy of models trained elsewhere (no training)",
                              description=describe(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("target", metavar="MODEL_OR_SPEC",
                   help="a model (TorchScript file, module:Class, registered arch, `raysweep train --out` folder) "
                        "or an evaluation spec YAML")
    p.add_argument("--dataset", help="registered data set the model classifies (a train --out folder knows it)")
    p.add_argument("--data-root", default=None, help="folder of the real data sets (default: $RAYSWEEP_DATA)")
    p.add_argument("--weights", help="state dict for module:Class or a registered arch")
    p.add_argument("--trust-pickle", action="store_true", help="allow a whole pickled module (runs code from the file)")
    p.add_argument("--attacks", default="linf,apgd_ce", help="comma-separated attacks (see `raysweep list attacks`)")
    p.add_argument("--samples", type=int, default=1000, help="test images attacked per attack")
    p.add_argument("--seed", type=int, default=None, help="seeds the attacks' random starts (default 0)")
    p.add_argument("--input-channels", type=int, default=None, help="repeat gray images to this many channels")
    p.add_argument("--name", default=None, help="results folder name under --storage (default: eval-<model>)")
    p.add_argument("--storage", default="results", help="where the tables go: a path or URI")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a spec value (repeatable), e.g. --set evaluate.attacks[0].samples=100")
    p.add_argument("--no-report", action="store_true", help="write the tables only")
    p.set_defaults(func=run)


def load_eval_spec(path: str, overrides=()):
    """Read, override, parse and check an evaluation spec file against the registries (no data yet)."""
    from raysweep.config.yaml_file import read_yaml

    source = f"{path} (with --set {' '.join(overrides)})" if overrides else str(path)
    return check_eval_spec(read_yaml(path, "evaluation spec", "an evaluate spec"), source, overrides)


def check_eval_spec(data, source: str, overrides=()):
    """An evaluation spec mapping, overridden, parsed and checked against the registries."""
    from raysweep.resolve import catalog
    from raysweep.config.eval_spec import EvalSpec
    from raysweep.config.overrides import apply_overrides
    from raysweep.config.parse import parse_model
    from raysweep.resolve.validate import check_arch, check_attack, check_dataset_options, fill_attack_defaults

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


def spec_of(args: argparse.Namespace):
    """The evaluation spec: the file, or the one MODEL given on the command line."""
    if args.target.endswith((".yaml", ".yml")):
        return load_eval_spec(args.target, args.overrides)
    from raysweep.resolve import catalog
    from raysweep.models.target import spec_from_target

    catalog.load()
    if args.samples < 1:
        raise UserError(f"--samples must be >= 1, got {args.samples}")
    attacks = [a.strip() for a in args.attacks.split(",") if a.strip()]
    data = spec_from_target(args.target, dataset=args.dataset, data_root=args.data_root, weights=args.weights,
                            trust_pickle=args.trust_pickle, attacks=attacks, samples=args.samples, seed=args.seed,
                            storage=args.storage, name=args.name, input_channels=args.input_channels,
                            models=set(catalog.registries()["models"].names()))
    return check_eval_spec(data, f"raysweep evaluate {args.target}", args.overrides)


def build(source, ds):
    """The model of one `models:` entry, with its weights, in eval mode (raysweep.models.loading)."""
    from raysweep.models import build_model
    from raysweep.models import loading as L

    if source.script is not None:
        model = L.load_torchscript(source.script, source.label)
    elif source.pickled is not None:
        model = L.load_pickled(source.pickled, source.label, source.trust_pickle)
    elif source.arch is not None:
        model = build_model(source.arch.name, ds.image_shape, ds.n_classes, **source.arch.options)
    else:
        model = L.build_from(source.builder, source.options, ds.n_classes, source.label)
    if source.checkpoint is not None:
        L.fit_weights(model, L.load_state_dict(source.checkpoint, source.label), source.label, source.arch_spec.key)
    if source.input_channels and source.input_channels != ds.image_shape[0]:
        model = L.repeat_channels(model, source.input_channels)
    return model.eval()


def trial_for(spec, source, ds):
    """The TrialConfig of one model: its source (and the files' content) in place of training."""
    from raysweep import storage
    from raysweep.config.trial_config import TrialConfig, identify
    from raysweep.config.schema import StrategySpec, TrainSpec

    params = {"builder": source.builder, "checkpoint": source.checkpoint, "input_channels": source.input_channels,
              "script": source.script, "pickled": source.pickled}
    for key in ("checkpoint", "script", "pickled"):  # the content, not the path, decides the numbers
        if getattr(source, key) is not None:
            params[f"{key}_sha256"] = hashlib.sha256(storage.read_bytes(getattr(source, key)) or b"").hexdigest()
    strategy = StrategySpec(name="pretrained", label=source.label, params=params)
    seed = spec.seed if source.seed is None else source.seed
    cfg = TrialConfig(sweep=spec.name, trial_id="", dataset=spec.dataset, n=source.n, seed=seed,
                      arch=source.arch_spec, strategy=strategy, evaluate=spec.evaluate, train=TrainSpec(),
                      data_hash=ds.data_hash, plugins=spec.plugins)
    return identify(cfg)


# The training columns of a row describe raysweep's training, which these models never had.
NOT_TRAINED = {"train.epochs": None, "train.batch_size": None, "train.lr": None, "train.lr_decay": None,
               "train.weight_decay": None, "train_error": None, "train_time_s": None, "strategy_family": None}
PARAM_COLUMNS = ("builder", "checkpoint", "checkpoint_sha256", "input_channels", "script", "script_sha256",
                 "pickled", "pickled_sha256")


def robust_line(label: str, row) -> str:
    """`label: clean 0.97  linf 0.12  apgd_ce 0.10  worst 0.09` (robust accuracy per attack)."""
    attacks = [c.removesuffix(".robust_acc") for c in row.index if c.endswith(".robust_acc")]
    cells = "".join(f"  {a} {row[f'{a}.robust_acc']:.3f}" for a in attacks)
    return f"{label}: clean {row['clean_acc']:.3f}{cells}  worst {row['robust_acc_worst']:.3f}  (test_error {row['test_error']:.4f})"


def evaluate_models(spec, ds, models, clock=time.time):
    """Evaluate each (trial config, model) and write its rows through the sweep's row writer; a
    model whose row exists (same config, weights and data) is reused, not evaluated again."""
    from raysweep import storage, trial
    from raysweep.device import default_device
    from raysweep.lease import acquire
    from raysweep.results.rows import ok_tables
    from raysweep.results.schema import trial_schema
    from raysweep.results.store import TableStore, samples_path

    device = default_device()
    schema = trial_schema(table_spec(spec), {f"strategy.{k}": "str" for k in PARAM_COLUMNS})
    store = TableStore(spec.storage, spec.name)
    with acquire(spec.storage, spec.name):
        done = store.done_ids()
        manifolds = true_manifold(spec, ds, device) if any(c.trial_id not in done for c, _ in models) else {}
        for k, (cfg, model) in enumerate(models, 1):
            label = cfg.strategy.key
            if cfg.trial_id in done:
                print(f"[{k}/{len(models)}] {label}: row exists in {store.root.uri}, reused", flush=True)
                continue
            print(f"[{k}/{len(models)}] {label}: attacking {len(spec.evaluate.attacks)} way(s)", flush=True)
            started = clock()
            out = trial.evaluate_trial(cfg, model.to(device), ds, manifolds, device,
                                       progress=lambda line: print(f"  {label} {line}", flush=True))
            measured = {**out.row, **NOT_TRAINED, "eval_time_s": clock() - started, "device": str(device)}
            rows, examples = ok_tables(cfg, measured, out.examples, schema, started_at=started, finished_at=clock())
            if out.samples:
                storage.save_torch(samples_path(spec.storage, spec.name, cfg.trial_id), out.samples)
            store.write(cfg.trial_id, rows, examples)
    table = store.read("trials").to_pandas().set_index("trial_id")
    print("robust accuracy (share of attacked test images still classified correctly):")
    for cfg, _ in models:
        print("  " + robust_line(cfg.strategy.key, table.loc[cfg.trial_id]))
    return store


def table_spec(spec):
    """The sweep-shaped spec the trial schema is built from (one 'pretrained' strategy)."""
    from raysweep.config.schema import GridSpec, StrategySpec, SweepSpec

    return SweepSpec(name=spec.name, dataset=spec.dataset, grid=GridSpec(n=[1], seed=[spec.seed]),
                     strategies=[StrategySpec(name="pretrained")], evaluate=spec.evaluate)


def true_manifold(spec, ds, device) -> dict:
    """{"true": FONTS' true manifold} when an attack or distance needs it (learned ones were
    refused by check_eval_spec)."""
    from raysweep.resolve import catalog

    regs = catalog.registries()
    needs = {regs["attacks"].get(a.name).needs_for(a.params) for a in spec.evaluate.attacks}
    needs |= {regs["distances"].get(d.method).needs for d in spec.evaluate.distances}
    if "true" not in needs:
        return {}
    from raysweep.manifold.true import TrueManifold

    return {"true": TrueManifold.from_dataset(ds).to(device)}


def run(args: argparse.Namespace) -> int:
    from raysweep import storage
    from raysweep.data import load_dataset

    spec = spec_of(args)
    ds = load_dataset(spec.dataset.name, **spec.dataset.options)
    # every model is built and identified before anything is written: a bad file or weights that
    # do not fit stop here, leaving no results folder and no lease behind
    models = [(trial_for(spec, source, ds), build(source, ds)) for source in spec.models]
    store = evaluate_models(spec, ds, models)
    if not args.no_report:
        from raysweep.commands.analyze import run as analyze

        return analyze(argparse.Namespace(results_dir=(storage.resolve(spec.storage) / spec.name).uri, out=None,
                                          seed=0, arch=None))
    print(f"tables: {store.root.uri}")
    return 0
