"""Throughput of one VAE-GAN training step (encoder, decoder, discriminator updates; Eq. 7-9).

Prints `images_per_s_full:` (the paper's width, 64/128/256 channels) and `images_per_s_smoke:`
(width 0.25) for 28x28 images, batch 100, on raysweep.device.default_device().
Usage: python benchmarks/bench_vaegan.py [--steps 20] [--threads N] [--smoke]
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional

import torch

from raysweep.device import default_device
from raysweep.errors import UserError, run_script
from raysweep.vaegan.config import VAEGANConfig
from raysweep.vaegan.losses import make_optimisers, train_step
from raysweep.vaegan.train import build_vaegan


def images_per_s(width: float, steps: int, device: torch.device) -> float:
    cfg = VAEGANConfig(width=width)
    model = build_vaegan(cfg, seed=0).to(device).train()
    opts = make_optimisers(model, cfg)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(cfg.batch_size, *cfg.in_shape, generator=g).to(device)
    eps = torch.randn(cfg.batch_size, cfg.latent_dim, generator=g).to(device)
    for _ in range(3):  # warm-up: cuDNN autotuning, allocator
        train_step(model, opts, x, eps, cfg.lam)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, opts, x, eps, cfg.lam)  # .item() in train_step syncs every step
    return steps * cfg.batch_size / (time.perf_counter() - start)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--smoke", action="store_true", help="2 steps, to check the script runs")
    return p.parse_args(argv)


def check(args: argparse.Namespace) -> None:
    """What the arguments need, checked before any work (one UserError line)."""
    if args.steps < 1:
        raise UserError(f"--steps {args.steps}: time at least 1 step")


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    check(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    steps = 2 if args.smoke else args.steps
    device = default_device()
    print(f"device: {device} threads: {torch.get_num_threads()}")
    print(f"images_per_s_full: {images_per_s(1.0, steps, device):.1f}")
    print(f"images_per_s_smoke: {images_per_s(0.25, steps, device):.1f}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_vaegan"))
