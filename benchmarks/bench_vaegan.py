"""Throughput of VAE-GAN training (encoder, decoder, discriminator updates; Eq. 7-9, supplement B.2).

Prints `images_per_s_full:` (the paper's width, 64/128/256 channels) and `images_per_s_smoke:`
(width 0.25): one training step on a fixed batch of 28x28 images, batch 100. Then raysweep's
training loop (raysweep.vaegan.fit.train_epoch: seeded batches of uint8 images, the three
updates, losses read back once) against a bare PyTorch loop doing the same losses and updates
(each loss's backward reaching every network's weights, as written plainly) on the same images in
this process, from the same initial weights, rounds alternating so load on
a shared machine hits both: `steps_per_s:` (raysweep's, full width), `bare_steps_per_s:` and
`vaegan_step_ratio_vs_bare_loop:` (best round over best round; target >= 0.9).
Usage: python benchmarks/bench_vaegan.py [--steps 20] [--rounds 3] [--threads N] [--smoke]
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional

import torch
import torch.nn.functional as F

from raysweep._core.device import default_device
from raysweep._core.errors import at_least_one, run_script
from raysweep.vaegan.config import VAEGANConfig
from raysweep.vaegan.losses import make_optimisers, train_step
from raysweep.vaegan.schedule import BatchStream, Schedule
from raysweep.vaegan.fit import build_vaegan, train_epoch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def images_per_s(width: float, steps: int, device: torch.device) -> float:
    cfg = VAEGANConfig(width=width)
    model = build_vaegan(cfg, seed=0).to(device).train()
    opts = make_optimisers(model, cfg)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(cfg.batch_size, *cfg.in_shape, generator=g).to(device)
    eps = torch.randn(cfg.batch_size, cfg.latent_dim, generator=g).to(device)
    for _ in range(3):  # warm-up: cuDNN autotuning, allocator
        train_step(model, opts, x, eps, cfg.lam)
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, opts, x, eps, cfg.lam)
    _sync(device)  # train_step leaves its losses on the device: wait for the queue
    return steps * cfg.batch_size / (time.perf_counter() - start)


def ours(cfg: VAEGANConfig, images: torch.Tensor, steps: int, device: torch.device) -> float:
    """Steps per second of raysweep's loop: `steps` steps as one epoch of a step schedule."""
    model = build_vaegan(cfg, seed=0).to(device)
    opts = make_optimisers(model, cfg)
    sched = Schedule(steps, steps, -(-len(images) // cfg.batch_size))
    stream = BatchStream(len(images), cfg.batch_size, cfg.latent_dim, seed=0)
    _sync(device)
    start = time.perf_counter()
    train_epoch(model, opts, images, cfg, sched, 0, stream)
    _sync(device)
    return steps / (time.perf_counter() - start)


def bare(cfg: VAEGANConfig, images: torch.Tensor, steps: int, device: torch.device) -> float:
    """Steps per second of the same three updates written as a plain PyTorch loop (no per-step
    read-back: a bare loop logs rarely; every backward fills all weights' gradients)."""
    model = build_vaegan(cfg, seed=0).to(device)
    enc, dec, dis = model.encoder, model.decoder, model.discriminator
    adam = lambda m: torch.optim.Adam(m.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)  # noqa: E731
    opt_e, opt_d, opt_g = adam(enc), adam(dec), adam(dis)
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(images), generator=g)
    bce = lambda logits, target: F.binary_cross_entropy_with_logits(  # noqa: E731
        logits, torch.full_like(logits, target), reduction="sum")
    _sync(device)
    start = time.perf_counter()
    for i in range(steps):
        idx = order[(i * cfg.batch_size) % len(images):][:cfg.batch_size]
        x = images[idx.to(images.device)].float().div_(255)
        eps = torch.randn(len(idx), cfg.latent_dim, generator=g).to(device)
        for o in (opt_e, opt_d, opt_g):
            o.zero_grad(set_to_none=True)
        mu, logvar = enc(x)
        z = mu + eps * torch.exp(0.5 * logvar)
        rec = dec(z)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum()
        (kl + cfg.lam * (rec - x).abs().sum() + bce(dis(rec), 1.0)).backward()
        opt_e.step()
        for o in (opt_e, opt_d, opt_g):
            o.zero_grad(set_to_none=True)
        rec = dec(z.detach())
        (cfg.lam * (rec - x).abs().sum() + bce(dis(rec), 1.0)).backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        (bce(dis(x), 1.0) + bce(dis(rec.detach()), 0.0)).backward()
        opt_g.step()
    _sync(device)
    return steps / (time.perf_counter() - start)


def compare(steps: int, rounds: int, device: torch.device) -> tuple[float, float]:
    """(raysweep's, the bare loop's) best steps per second over alternating rounds, full width."""
    cfg = VAEGANConfig()
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (max(steps, 10) * cfg.batch_size, *cfg.in_shape), generator=g,
                           dtype=torch.uint8).to(device)
    ours(cfg, images, 2, device), bare(cfg, images, 2, device)  # warm-up: allocator, cuDNN autotuning
    best_ours = best_bare = 0.0
    for _ in range(rounds):
        best_ours = max(best_ours, ours(cfg, images, steps, device))
        best_bare = max(best_bare, bare(cfg, images, steps, device))
    return best_ours, best_bare


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of raysweep's and the bare loop")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--smoke", action="store_true", help="2 steps, 1 round, to check the script runs")
    return p.parse_args(argv)


def check(args: argparse.Namespace) -> None:
    """What the arguments need, checked before any work (one UserError line)."""
    at_least_one(steps=args.steps, rounds=args.rounds)


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    check(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    steps, rounds = (2, 1) if args.smoke else (args.steps, args.rounds)
    device = default_device()
    print(f"device: {device} threads: {torch.get_num_threads()}")
    print(f"images_per_s_full: {images_per_s(1.0, steps, device):.1f}")
    print(f"images_per_s_smoke: {images_per_s(0.25, steps, device):.1f}")
    ours_s, bare_s = compare(steps, rounds, device)
    print(f"steps_per_s: {ours_s:.3f}")
    print(f"bare_steps_per_s: {bare_s:.3f}")
    print(f"vaegan_step_ratio_vs_bare_loop: {ours_s / bare_s:.3f}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_vaegan"))
