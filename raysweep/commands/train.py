"""`raysweep train`: train one classifier on a training subset and print its test error.

The same pieces a sweep trial uses (load_dataset, subset, build_model, a strategy, train,
evaluate), without Ray: a quick check of one configuration from the shell.
"""
from __future__ import annotations

import argparse
import time

import torch

from raysweep.errors import UserError

DEVICES = ("cpu", "cuda")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train one classifier and print its test error",
                              description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fonts", help="registered data set (see `raysweep list datasets`)")
    p.add_argument("--n", type=int, required=True, help="training-set size N (class-balanced subset)")
    p.add_argument("--seed", type=int, default=0, help="seeds the subset, initialisation and batch order")
    p.add_argument("--arch", default="cnn", help="classifier (see `raysweep list models`)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--strategy", default="normal", help="training strategy (see `raysweep list strategies`)")
    p.add_argument("--data-root", default=None, help="folder of the real data sets (default: $RAYSWEEP_DATA)")
    p.add_argument("--device", choices=DEVICES, default=None, help="default: cuda when available, else cpu")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice; 1 is far faster on a busy shared machine)")
    p.set_defaults(func=run)


def _device(name: str | None) -> torch.device:
    from raysweep.device import default_device

    if name is None:
        return default_device()
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda but torch sees no GPU; use --device cpu")
    return torch.device(name)


def _check_args(args: argparse.Namespace) -> None:
    """Catch bad input before any data is loaded."""
    import raysweep.training.strategies  # noqa: F401  (registers the strategies)
    from raysweep.models import MODELS
    from raysweep.training.strategy import STRATEGIES, strategy_needs

    MODELS.get(args.arch)  # unknown name -> UserError listing the known ones
    STRATEGIES.get(args.strategy)
    # The FONTS true manifold is built here; learned ones live in the sweep's manifold actors.
    learned = set(strategy_needs(args.strategy, {})) - {"true"}
    if learned:
        raise UserError(f"strategy {args.strategy!r} needs the learned manifolds {sorted(learned)}; "
                        "run it through `raysweep sweep`")
    if args.n < 1:
        raise UserError(f"--n must be >= 1, got {args.n}")
    if args.epochs < 1:
        raise UserError(f"--epochs must be >= 1, got {args.epochs}")
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be >= 1, got {args.threads}")


def _training_split(data, n: int, seed: int):
    """The seeded class-balanced subset of N training images (raysweep.data.subset)."""
    if n > len(data.train):
        raise UserError(f"--n {n} exceeds the {len(data.train)} training images of {data.name}; "
                        "choose a smaller N or a larger data set")
    from raysweep.data.subset import subset

    return data.train.subset(subset(data.train.y, n, seed))


def _true_manifold(strategy: str, data, device: torch.device) -> dict:
    """{"true": TrueManifold} when the strategy needs it (FONTS only; a UserError elsewhere)."""
    from raysweep.training.strategy import strategy_needs

    if "true" not in strategy_needs(strategy, {}):
        return {}
    from raysweep.manifold.true import TrueManifold

    return {"true": TrueManifold.from_dataset(data).to(device)}


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    device = _device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    from raysweep.data.dataset import load_dataset
    from raysweep.models import build_model
    from raysweep.training.loop import TrainConfig, evaluate, train
    from raysweep.training.strategy import STRATEGIES, StrategyContext

    options = {"root": args.data_root} if args.data_root else {}
    data = load_dataset(args.dataset, **options)
    train_split = _training_split(data, args.n, args.seed)
    model = build_model(args.arch, data.image_shape, data.n_classes, seed=args.seed)
    ctx = StrategyContext(manifolds=_true_manifold(args.strategy, data, device), dataset_meta=data.meta,
                          generator=torch.Generator().manual_seed(args.seed), device=device)
    strategy = STRATEGIES.build(args.strategy, ctx=ctx)
    cfg = TrainConfig(epochs=args.epochs)

    def report(epoch: int, m: dict[str, float], _state) -> None:
        print(f"epoch {epoch + 1}/{cfg.epochs}  loss {m['train_loss']:.4f}  train_error {m['train_error']:.4f}  "
              f"lr {m['lr']:.5f}  {m['images_per_s']:.0f} img/s", flush=True)

    result = train(model, train_split, strategy, cfg, seed=args.seed, device=device, on_epoch=report)
    start = time.perf_counter()
    test_error = evaluate(model, data.test, device)
    eval_time = time.perf_counter() - start
    print(f"test_error: {test_error:.4f}")
    print(f"train_time_s: {result.train_time_s:.2f}")
    print(f"eval_time_s: {eval_time:.2f}")
    print(f"images_per_s: {result.images_per_s:.0f}")
    return 0
