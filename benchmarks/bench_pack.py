"""Packed models against the same K models one after another, in one process.

Training images/s of K packed models (`train_packed`, the device's default execution) over the
same K models trained one after another with `train`, K in 1, 5, 10, 20, 50: `packed_ratio_k<K>`;
the same for the L-inf attack (`attack_packed`): `attack_packed_ratio_k<K>`. On CPU the default
execution is sequential (vmap measured slower there), so the CPU target is ratio >= 0.95: packing
costs nothing. `fused_ratio_k<K>` times the vmap path too, which is what a GPU runs, and
`fused_adv_ratio_k<K>` the same for regular adversarial training (its examples crafted on the pack).
`paper_grid_gpu_hours` needs a measured GPU throughput; without a GPU it prints a skip line.

    python benchmarks/bench_pack.py [--n 300] [--ks 1,5,10,20,50] [--device cpu] [--smoke]
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional

import torch

import raysweep.training.strategies  # noqa: F401  (registers the strategies)
from raysweep.attacks import ATTACKS
from raysweep.data.batch import Split
from raysweep._core.device import resolve_device
from raysweep._core.errors import UserError, at_least_one, run_script
from raysweep.models import build_model
from raysweep.training.loop import TrainConfig, train
from raysweep.training.packed import train_packed
from raysweep.training.packed_attack import attack_packed
from raysweep.training.strategy import STRATEGIES, StrategyContext


def _data(n: int, seed: int) -> Split:
    g = torch.Generator().manual_seed(seed)  # FONTS-shaped noise: throughput does not depend on content
    return Split(torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8), torch.randint(0, 10, (n,), generator=g))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _models(k: int, device: torch.device) -> list[torch.nn.Module]:
    return [build_model("cnn", (1, 28, 28), 10, seed=s).to(device) for s in range(k)]


def _strategy(name: str, seed: int, args, device: torch.device):
    if name == "normal":
        return STRATEGIES.build("normal", ctx=StrategyContext(device=device))
    ctx = StrategyContext(generator=torch.Generator().manual_seed(seed + 1), device=device)
    return STRATEGIES.build(name, ctx=ctx, iterations=args.adv_iterations)


def train_rates(k: int, args, device: torch.device, name: str = "normal",
                modes: tuple = ("sequential", None, True)) -> list[float]:
    """images/s of each mode: sequential `train`, the default pack (None), the fused (vmap) pack (True)."""
    cfg = TrainConfig(epochs=1)
    splits = [_data(args.n, s) for s in range(k)]
    normal = lambda s=0: _strategy(name, s, args, device)  # noqa: E731
    rates = []
    for mode in modes:
        models = _models(k, device)
        _sync(device)
        start = time.perf_counter()
        if mode == "sequential":
            for s, (m, sp) in enumerate(zip(models, splits)):
                train(m, sp, normal(s), cfg, seed=s, device=device)
        else:
            train_packed(models, splits, [normal(s) for s in range(k)], cfg, seeds=range(k), device=device, fused=mode)
        _sync(device)
        rates.append(k * args.n / (time.perf_counter() - start))
    return rates


def attack_rates(k: int, args, device: torch.device) -> tuple[float, float]:
    """attacked samples/s: each model alone, then the default pack."""
    models = [m.eval() for m in _models(k, device)]
    batch = _data(args.samples, 99).batch(None, device)
    attack = ATTACKS.build("linf", iterations=args.iterations, restarts=1)
    rates = []
    for fused in (False, None):
        _sync(device)
        start = time.perf_counter()
        if fused is False:
            for s, m in enumerate(models):
                attack(m, batch, generator=torch.Generator(device=device).manual_seed(s))
        else:
            attack_packed(attack, models, batch, list(range(k)), fused=fused)
        _sync(device)
        rates.append(k * args.samples / (time.perf_counter() - start))
    return rates[0], rates[1]


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=300, help="training images per model")
    p.add_argument("--samples", type=int, default=50, help="attacked samples per model")
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--adv-iterations", type=int, default=10, help="inner iterations of adversarial training")
    p.add_argument("--ks", default="1,5,10,20,50")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: stable on a shared machine)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, runs in seconds")
    args = p.parse_args(argv)
    if args.smoke:
        args.n, args.samples, args.iterations, args.ks, args.repeats, args.adv_iterations = 100, 10, 3, "1,2", 1, 2
    return args


def check(args: argparse.Namespace) -> None:
    """What the arguments need, checked before any work (one UserError line)."""
    resolve_device(args.device)
    if not all(k.strip().isdigit() and int(k) >= 1 for k in args.ks.split(",")):
        raise UserError(f"--ks {args.ks}: give pack sizes as positive integers, e.g. 1,5,10")
    at_least_one(n=args.n, samples=args.samples, repeats=args.repeats)


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    check(args)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    train_rates(1, args, device)  # warm-up: allocator, lazy imports, cuDNN plans
    for k in (int(v) for v in args.ks.split(",")):
        best = [max(v) for v in zip(*(train_rates(k, args, device) for _ in range(args.repeats)))]
        att = [max(v) for v in zip(*(attack_rates(k, args, device) for _ in range(args.repeats)))]
        adv = [max(v) for v in zip(*(train_rates(k, args, device, "adversarial", ("sequential", True))
                                     for _ in range(args.repeats)))]
        print(f"sequential_images_per_s_k{k}: {best[0]:.0f}")
        print(f"packed_ratio_k{k}: {best[1] / best[0]:.3f}")
        print(f"fused_ratio_k{k}: {best[2] / best[0]:.3f}")
        print(f"attack_packed_ratio_k{k}: {att[1] / att[0]:.3f}")
        print(f"fused_adv_ratio_k{k}: {adv[1] / adv[0]:.3f}")
    if device.type == "cuda":
        print("# paper_grid_gpu_hours: see raysweep.resolve.plan's calibration table (GPU throughput not in this script)")
    else:
        print("# paper_grid_gpu_hours: skipped, no GPU here; the dry run's GPU figures are labelled not measured")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_pack"))
