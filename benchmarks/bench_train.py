"""Throughput of raysweep's training loop against a minimal hand-written loop.

Both train the same classifier (same initial weights) on the same data in this process; the bare
loop keeps the images as a float tensor and does nothing but forward, cross-entropy, backward and
Adam. Runs alternate and the best of `--repeats` counts, so a busy neighbour hurts both equally.
Prints `key: number` lines; the target is ratio_vs_bare_loop >= 0.9.

    python benchmarks/bench_train.py [--n 5000] [--epochs 2] [--device cpu] [--smoke]
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional

import torch
import torch.nn.functional as F

import raysweep.training.strategies  # noqa: F401  (registers the strategies)
from raysweep.data.batch import Split
from raysweep._core.device import resolve_device
from raysweep._core.errors import UserError, at_least_one, run_script
from raysweep.models import MODELS, build_model
from raysweep.training.loop import TrainConfig, train
from raysweep.training.strategy import STRATEGIES, StrategyContext


def _registers_fonts() -> bool:
    try:
        import raysweep.data  # noqa: F401  (registers the data sets)
    except ImportError:
        return False
    from raysweep.data.dataset import DATASETS

    return "fonts" in DATASETS


def fonts_or_synthetic(n: int, use_fonts: bool) -> tuple[Split, int, bool]:
    """N training images of FONTS when that data set is available, else FONTS-shaped noise."""
    if use_fonts and _registers_fonts():
        from raysweep.data import load_dataset

        try:
            data = load_dataset("fonts")
        except UserError as e:  # e.g. no usable fonts on this machine
            print(f"# FONTS unavailable ({e}); using synthetic FONTS-shaped data")
        else:
            if len(data.train) >= n:
                return data.train.subset(torch.arange(n)), data.n_classes, True
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    return Split(x, torch.randint(0, 10, (n,), generator=g)), 10, False


def ours(split: Split, n_classes: int, args, device: torch.device) -> float:
    model = build_model(args.arch, tuple(split.x.shape[1:]), n_classes, seed=0)
    strategy = STRATEGIES.build("normal", ctx=StrategyContext(device=device))
    result = train(model, split, strategy, TrainConfig(epochs=args.epochs), seed=0, device=device)
    return result.images_per_s


def bare(split: Split, n_classes: int, args, device: torch.device) -> float:
    cfg = TrainConfig()
    model = build_model(args.arch, tuple(split.x.shape[1:]), n_classes, seed=0).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    x, y = split.x.to(device).float().div(255), split.y.to(device)
    n, bs = len(y), cfg.batch_size
    g = torch.Generator().manual_seed(0)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(args.epochs):
        order = torch.randperm(n, generator=g).to(device)
        for b in range(0, n, bs):
            idx = order[b:b + bs]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return n * args.epochs / (time.perf_counter() - start)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--arch", default="cnn")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: stable on a shared machine)")
    p.add_argument("--synthetic", action="store_true", help="skip FONTS even when it is available")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, runs in seconds")
    args = p.parse_args(argv)
    if args.smoke:
        args.n, args.epochs, args.repeats = 500, 1, 1
    return args


def check(args: argparse.Namespace) -> None:
    """What the arguments need, checked before any work (one UserError line)."""
    resolve_device(args.device)
    if args.arch not in MODELS:
        raise UserError(f"--arch {args.arch}: unknown; use one of {', '.join(MODELS.names())}")
    at_least_one(n=args.n, epochs=args.epochs, repeats=args.repeats)


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    check(args)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    split, n_classes, is_fonts = fonts_or_synthetic(args.n, not args.synthetic)
    ours(split, n_classes, args, device)  # warm-up: allocator, cuDNN autotuning, lazy imports
    best_ours = best_bare = 0.0
    for _ in range(args.repeats):
        best_bare = max(best_bare, bare(split, n_classes, args, device))
        best_ours = max(best_ours, ours(split, n_classes, args, device))
    print(f"data_is_fonts: {int(is_fonts)}")
    print(f"n_images: {args.n}")
    print(f"bare_loop_images_per_s: {best_bare:.0f}")
    print(f"raysweep_images_per_s: {best_ours:.0f}")
    print(f"ratio_vs_bare_loop: {best_ours / best_bare:.3f}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_train"))
