"""Benchmark the attack library on a normally trained FONTS CNN.

(a) step_ratio_vs_bare_loop: image-iterations per second of our L-inf attack (early stopping
    off, so both do the same work) divided by that of a plain torch.optim.Adam PGD loop over the
    same model and images, in the same process (target >= 1.0).
(b) early_stop_speedup: time of the L-inf attack on `--images` test images x 5 restarts x 40
    iterations with early stopping off, divided by the time with per-sample early stopping
    (finished samples leave the batch; target >= 3).

Prints `key: number` lines (and bare_step_ms_rows_*: the cost of one step by batch size, which
bounds what dropping rows can save: on CPU it scales with the rows, on a GPU at these sizes it
is mostly kernel-launch time). `--smoke` runs a tiny version in seconds.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional

import torch
import torch.nn.functional as F

import raysweep.training.strategies  # noqa: F401  (registers "normal")
from raysweep.attacks import ATTACKS
from raysweep.attacks.norms import project, random_start
from raysweep.data.batch import Batch
from raysweep.data import load_dataset
from raysweep.data.fonts import font_files
from raysweep._core.errors import run_script
from raysweep._core.device import default_device
from raysweep.models.classifiers import build_model
from raysweep.training.loop import TrainConfig, evaluate, train
from raysweep.training.strategy import STRATEGIES, StrategyContext


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare_loop(model, batch: Batch, restarts: int, iterations: int, eps: float, lr: float, seed: int) -> float:
    """The plain Adam-PGD everyone writes first: all rows, all iterations, torch.optim.Adam."""
    x = batch.x.repeat(restarts, 1, 1, 1)
    y = batch.y.repeat(restarts)
    g = torch.Generator().manual_seed(seed)
    delta = project(random_start(tuple(x.shape), eps, "linf", g, x.device), x, eps, "linf").requires_grad_(True)
    opt = torch.optim.Adam([delta], lr=lr)
    sync(x.device)
    start = time.perf_counter()
    for _ in range(iterations):
        opt.zero_grad(set_to_none=True)
        loss = -F.cross_entropy(model(x + delta), y, reduction="sum")
        loss.backward()
        opt.step()
        with torch.no_grad():
            delta.copy_(project(delta, x, eps, "linf"))
    sync(x.device)
    return time.perf_counter() - start


def ours(model, batch: Batch, early_stop: bool, restarts: int, iterations: int, seed: int) -> tuple[float, dict]:
    attack = ATTACKS.build("linf", restarts=restarts, iterations=iterations, early_stop=early_stop)
    sync(batch.x.device)
    start = time.perf_counter()
    result = attack(model, batch, generator=torch.Generator().manual_seed(seed))
    sync(batch.x.device)
    return time.perf_counter() - start, result.metrics()


def trained_model(args, device):
    ds = load_dataset("fonts", max_fonts=args.fonts or None, train_size=args.train_size, test_size=args.images)
    model = build_model("cnn", ds.image_shape, ds.n_classes, seed=0)
    train(model, ds.train, STRATEGIES.build("normal", ctx=StrategyContext()), TrainConfig(epochs=args.epochs),
          seed=0, device=device)
    return model.eval(), ds


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--fonts", type=int, default=0, help="fonts in the data set (0: all bundled)")
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, runs in seconds")
    args = parser.parse_args(argv)
    if args.smoke:
        args.images, args.fonts, args.train_size, args.epochs, args.repeats = 50, 10, 500, 1, 1
        args.iterations, args.restarts = 10, 2
    return args


def check(args: argparse.Namespace) -> None:
    """What the arguments need, checked in milliseconds before any work (one UserError line)."""
    font_files(None, args.fonts or None)


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    check(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = default_device()
    model, ds = trained_model(args, device)
    batch = ds.test.batch(slice(0, args.images), device)
    print(f"device: {device.type}")
    print(f"test_error: {evaluate(model, ds.test, device):.4f}")
    r, its = args.restarts, args.iterations
    # warm-up: allocator, kernels and cuDNN plans for every batch size the runs will see
    ours(model, batch, False, r, its, 99)
    ours(model, batch, True, r, its, 99)
    bare_loop(model, batch, r, 2, 0.3, 0.005, 0)
    bare = min(bare_loop(model, batch, r, its, 0.3, 0.005, k) for k in range(args.repeats))
    off = min(ours(model, batch, False, r, its, k)[0] for k in range(args.repeats))
    on_runs = [ours(model, batch, True, r, its, k) for k in range(args.repeats)]
    on = min(t for t, _ in on_runs)
    work = len(batch) * r * its
    print(f"bare_loop_image_its_per_s: {work / bare:.1f}")
    print(f"ours_image_its_per_s: {work / off:.1f}")
    print(f"step_ratio_vs_bare_loop: {bare / off:.3f}")
    print(f"time_early_stop_off_s: {off:.3f}")
    print(f"time_early_stop_on_s: {on:.3f}")
    print(f"early_stop_speedup: {off / on:.3f}")
    for images in sorted({len(batch), max(1, len(batch) // 10), max(1, len(batch) // 100)}, reverse=True):
        # cost of one bare step by batch size: how much dropping rows can save on this device
        sub = batch.select(slice(0, images))
        step = min(bare_loop(model, sub, r, its, 0.3, 0.005, k) for k in range(args.repeats)) / its
        print(f"bare_step_ms_rows_{images * r}: {1000 * step:.3f}")
    metrics = on_runs[0][1]
    print(f"success_rate_attempt: {metrics['success_rate_attempt']:.4f}")
    print(f"success_rate_any: {metrics['success_rate_any']:.4f}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_attacks"))
