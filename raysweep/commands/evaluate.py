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
import time

from raysweep.commands import describe
from raysweep._core.errors import UserError


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


def spec_of(args: argparse.Namespace):
    """The evaluation spec: the file, or the one MODEL given on the command line."""
    from raysweep.models.target import spec_from_target
    from raysweep.resolve import catalog
    from raysweep.resolve.eval_spec import check_eval_spec, load_eval_spec

    if args.target.endswith((".yaml", ".yml")):
        return load_eval_spec(args.target, args.overrides)

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


# The training columns of a row describe raysweep's training, which these models never had.
NOT_TRAINED = ("epochs", "batch_size", "lr", "lr_decay", "weight_decay")
NOT_TRAINED_ROW = ("train_error", "train_time_s", "strategy_family")
PARAM_COLUMNS = ("builder", "checkpoint", "checkpoint_sha256", "input_channels", "script", "script_sha256",
                 "pickled", "pickled_sha256")


def robust_line(label: str, row) -> str:
    """`label: clean 0.97  linf 0.12  apgd_ce 0.10  worst 0.09` (robust accuracy per attack)."""
    from raysweep.results.names import attack_column, attacks_with
    from raysweep.results.schema import CLEAN_ACC, ROBUST_ACC, ROBUST_WORST, TEST_ERROR

    cells = "".join(f"  {a} {row[attack_column(a, ROBUST_ACC)]:.3f}" for a in attacks_with(row.index, ROBUST_ACC))
    return (f"{label}: clean {row[CLEAN_ACC]:.3f}{cells}  worst {row[ROBUST_WORST]:.3f}  "
            f"(test_error {row[TEST_ERROR]:.4f})")


def evaluate_models(spec, ds, models):
    """Evaluate each (trial config, model) and write its rows through the sweep's write path; a
    model whose row exists (same config, weights and data) is reused, not evaluated again."""
    from raysweep._core.device import default_device
    from raysweep.resolve.eval_spec import table_spec
    from raysweep.results.lease import acquire
    from raysweep.results.names import strategy_column, train_column
    from raysweep.results.schema import trial_schema
    from raysweep.results.store import TableStore
    from raysweep.results.write import write_ok
    from raysweep.trial.evaluate import evaluate_trial

    device = default_device()
    schema = trial_schema(table_spec(spec), {strategy_column(k): "str" for k in PARAM_COLUMNS})
    untrained = {**{train_column(k): None for k in NOT_TRAINED}, **{k: None for k in NOT_TRAINED_ROW}}
    store = TableStore(spec.storage, spec.name)
    with acquire(spec.storage, spec.name):
        done = store.done_ids()
        manifolds = true_manifold(models, ds, device) if any(c.trial_id not in done for c, _ in models) else {}
        for k, (cfg, model) in enumerate(models, 1):
            label = cfg.strategy.key
            if cfg.trial_id in done:
                print(f"[{k}/{len(models)}] {label}: row exists in {store.root.uri}, reused", flush=True)
                continue
            print(f"[{k}/{len(models)}] {label}: attacking {len(spec.evaluate.attacks)} way(s)", flush=True)
            started = time.time()
            out = evaluate_trial(cfg, model.to(device), ds, manifolds, device,
                                 progress=lambda line: print(f"  {label} {line}", flush=True))
            write_ok(store, cfg, out, schema, started_at=started, **untrained, eval_time_s=time.time() - started,
                     device=str(device))
    table = store.read("trials").to_pandas().set_index("trial_id")
    print("robust accuracy (share of attacked test images still classified correctly):")
    for cfg, _ in models:
        print("  " + robust_line(cfg.strategy.key, table.loc[cfg.trial_id]))
    return store


def true_manifold(models, ds, device) -> dict:
    """{"true": FONTS' true manifold} when an attack or distance needs it (the trials' facts;
    learned ones were refused by check_eval_spec), built once for every model."""
    from raysweep.manifold.true import TrueManifold

    if not any("true" in cfg.facts.manifolds for cfg, _ in models):
        return {}
    return {"true": TrueManifold.from_dataset(ds).to(device)}


def run(args: argparse.Namespace) -> int:
    from raysweep._core import storage
    from raysweep.data import load_dataset
    from raysweep.resolve.eval_spec import eval_trial

    spec = spec_of(args)
    ds = load_dataset(spec.dataset.name, **spec.dataset.options)
    # every model is built and identified before anything is written: a bad file or weights that
    # do not fit stop here, leaving no results folder and no lease behind
    models = [(eval_trial(spec, source, ds), build(source, ds)) for source in spec.models]
    store = evaluate_models(spec, ds, models)
    if not args.no_report:
        from raysweep.commands.analyze import run as analyze

        return analyze(argparse.Namespace(results_dir=(storage.resolve(spec.storage) / spec.name).uri, out=None,
                                          seed=0, arch=None))
    print(f"tables: {store.root.uri}")
    return 0
