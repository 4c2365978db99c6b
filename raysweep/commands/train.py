"""`raysweep train [--out DIR]`: train one classifier on a training subset and print its test error.

The command line becomes a one-trial spec, validated like any sweep, and runs the trial's own
build-and-train (raysweep.trial.prepare) without Ray: a quick check of one configuration from the shell.
--out DIR keeps the model: DIR/model.pt (its state dict) and DIR/model.json (the resolved config:
arch, data set, N, seed, strategy, and the test error), which `raysweep evaluate DIR` reads back.
"""
from __future__ import annotations

import argparse
import os
import time

from raysweep.commands import describe
from raysweep._core.errors import UserError, at_least_one

DEVICES = ("cpu", "cuda")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train one classifier and print its test error",
                              description=describe(__doc__))
    p.add_argument("--dataset", default="fonts", help="registered data set (see `raysweep list datasets`)")
    p.add_argument("--n", type=int, required=True, help="training-set size N (class-balanced subset)")
    p.add_argument("--seed", type=int, default=0, help="seeds the subset, initialisation and batch order")
    p.add_argument("--arch", default="cnn", help="classifier (see `raysweep list models`)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--strategy", default="normal", help="training strategy (see `raysweep list strategies`)")
    p.add_argument("--data-root", default=None, help="folder of the real data sets (default: $RAYSWEEP_DATA)")
    p.add_argument("--device", choices=DEVICES, default=None, help="default: cuda when available, else cpu")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write the trained model (model.pt) and its config (model.json) here, for `raysweep evaluate DIR`")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice; 1 is far faster on a busy shared machine)")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    """Catch bad input before any data is loaded."""
    at_least_one(n=args.n, epochs=args.epochs, **({} if args.threads is None else {"threads": args.threads}))
    if args.out and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UserError(f"--out {args.out} is a file; give a folder for model.pt and model.json")


def trial_config(args: argparse.Namespace):
    """The command line as a one-trial sweep, validated like any spec (names, parameters, N)."""
    from raysweep.config.schema import DatasetSpec, GridSpec, StrategySpec, SweepSpec, TrainSpec
    from raysweep.resolve.validate import validate_and_resolve

    options = {"root": args.data_root} if args.data_root else {}
    spec = SweepSpec(name="train", dataset=DatasetSpec(name=args.dataset, options=options),
                     grid=GridSpec(n=[args.n], seed=[args.seed], arch=[args.arch]),
                     strategies=[StrategySpec(name=args.strategy)], train=TrainSpec(epochs=args.epochs))
    return validate_and_resolve(spec, "raysweep train")[1][0]


def run(args: argparse.Namespace) -> int:
    import torch

    from raysweep.training.loop import evaluate
    from raysweep.trial.artifacts import dataset_for, provide_manifolds
    from raysweep.trial.prepare import build_and_train
    from raysweep.trial.protocol import TrialHooks

    _check_args(args)
    from raysweep._core.device import resolve_device

    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = trial_config(args)
    data = dataset_for(cfg)
    # The FONTS true manifold is built here; learned ones live in the sweep's manifold actors.
    manifolds = provide_manifolds(cfg, data, {}, device)

    def report(epoch: int, m: dict[str, float], _state) -> None:
        print(f"epoch {epoch + 1}/{cfg.train.epochs}  loss {m['train_loss']:.4f}  train_error {m['train_error']:.4f}  "
              f"lr {m['lr']:.5f}  {m['images_per_s']:.0f} img/s", flush=True)

    model, stats = build_and_train(cfg, data, manifolds, TrialHooks(on_epoch=report), device)
    start = time.perf_counter()
    test_error = evaluate(model, data.test, device)
    eval_time = time.perf_counter() - start
    print(f"test_error: {test_error:.4f}")
    print(f"train_time_s: {stats['train_time_s']:.2f}")
    print(f"eval_time_s: {eval_time:.2f}")
    print(f"images_per_s: {cfg.n * cfg.train.epochs / max(stats['train_time_s'], 1e-9):.0f}")
    if args.out:
        save_model(args.out, cfg, model, test_error)
        print(f"model: {args.out} (evaluate it with `raysweep evaluate {args.out}`)")
    return 0


def save_model(out: str, cfg, model, test_error: float) -> None:
    """DIR/model.pt (state dict) and DIR/model.json (the resolved config), each written atomically;
    the config last, so a folder with a config always has its weights."""
    import json

    from raysweep._core import storage
    from raysweep.models.target import TRAIN_OUT_CONFIG, TRAIN_OUT_WEIGHTS

    where = storage.resolve(out)
    storage.make_dir(where)
    storage.save_torch(where / TRAIN_OUT_WEIGHTS, {k: v.detach().cpu() for k, v in model.state_dict().items()})
    config = {"arch": cfg.arch.model_dump(), "dataset": cfg.dataset.model_dump(), "n": cfg.n, "seed": cfg.seed,
              "strategy": cfg.strategy.model_dump(exclude={"resources"}), "train": cfg.train.model_dump(),
              "test_error": test_error, "trial_id": cfg.trial_id}
    storage.atomic_write_bytes(where / TRAIN_OUT_CONFIG, json.dumps(config, indent=1, default=str).encode())
