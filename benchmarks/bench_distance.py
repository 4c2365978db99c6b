"""Throughput of the kNN-subspace distance (supplement C): exact search over the training images
in chunks on the device, then least-squares projection of delta onto 50 centred neighbours.

Prints `examples_per_s:` for --queries adversarial examples against --train random 28x28 uint8
training images (default 60k; the paper's setting is 2500 examples vs 240k).
Usage: python benchmarks/bench_distance.py [--queries 500] [--train 60000] [--center clean]
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional

import torch

from raysweep._core.device import default_device
from raysweep._core.errors import UserError, run_script
from raysweep.manifold.projection_knn import knn_projection


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--train", type=int, default=60000)
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--center", choices=["clean", "mean"], default="clean")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, to check the script runs")
    args = p.parse_args(argv)
    if args.smoke:
        args.queries, args.train = 20, 2000
    return args


def check(args: argparse.Namespace) -> None:
    """What the arguments need, checked before any work (one UserError line)."""
    if not 1 <= args.k <= args.train or args.queries < 1:
        raise UserError(f"--k {args.k} --train {args.train} --queries {args.queries}: "
                        "k neighbours need 1 <= k <= train and at least one query")


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    check(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = default_device()
    g = torch.Generator().manual_seed(0)
    train = torch.randint(0, 256, (args.train, 1, 28, 28), dtype=torch.uint8, generator=g).to(device)
    x = torch.rand(args.queries, 1, 28, 28, generator=g).to(device)
    x_adv = (x + 0.3 * torch.empty_like(x).uniform_(-1, 1)).clamp(0, 1)
    knn_projection(x_adv[:8], x[:8], train, k=args.k, center=args.center)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    res = knn_projection(x_adv, x, train, k=args.k, center=args.center)
    res.residual.cpu()  # waits for the device
    elapsed = time.perf_counter() - start
    print(f"device: {device}")
    for key, value in [("threads", torch.get_num_threads()), ("train", args.train), ("queries", args.queries)]:
        print(f"{key}: {value}")
    print(f"seconds: {elapsed:.3f}")
    print(f"examples_per_s: {args.queries / elapsed:.1f}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_distance"))
