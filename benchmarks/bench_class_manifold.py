"""ClassManifold.decode + backward (one on-manifold attack iteration's manifold work): raysweep's
sort/split routing against the per-class boolean-mask loop it replaced, in the same process.

Prints `route_ms.w<width>.b<batch>` / `mask_loop_ms.w<width>.b<batch>` per setting and
`routing_ratio_vs_mask_loop` (the geometric mean of route / loop; below 1 is faster) for ten
class decoders at smoke (0.125) and full (1.0) width, batches 50 and 500 (100 images x 5 restarts).
Usage: python benchmarks/bench_class_manifold.py [--repeats 20] [--device cuda] [--smoke]
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Optional

import torch

from raysweep._core.device import resolve_device
from raysweep._core.errors import at_least_one, run_script
from raysweep.manifold.learned import ClassManifold
from raysweep.vaegan.config import VAEGANConfig
from raysweep.vaegan.network import serving_state_dict
from raysweep.vaegan.fit import build_vaegan


def mask_loop(m: ClassManifold, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The baseline: one boolean mask, gather and index_put per class present."""
    out = z.new_zeros(z.shape[0], *m.models[0].arch.in_shape)
    for c in labels.unique().tolist():
        mask = labels == c
        out = out.index_put((mask,), m.models[c].decoder(z[mask]))
    return out


def ms_per_call(decode, z: torch.Tensor, labels: torch.Tensor, repeats: int) -> float:
    def step():
        torch.autograd.grad(decode(z, labels).square().sum(), z)

    for _ in range(2):  # warm-up
        step()
    if z.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if z.is_cuda:
        torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - start) / repeats


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--device", default=None)
    p.add_argument("--smoke", action="store_true", help="smoke width, batch 50, 2 repeats")
    return p.parse_args(argv)


def check(args: argparse.Namespace) -> None:
    """What the arguments need, checked before any work (one UserError line)."""
    resolve_device(args.device)
    at_least_one(repeats=args.repeats)


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    check(args)
    device = resolve_device(args.device)
    settings = [(0.125, 50)] if args.smoke else [(0.125, 50), (0.125, 500), (1.0, 50), (1.0, 500)]
    repeats = 2 if args.smoke else args.repeats
    print(f"device: {device}")
    ratios = []
    for width, batch in settings:
        cfg = VAEGANConfig(width=width)
        m = ClassManifold.from_state_dicts({c: serving_state_dict(build_vaegan(cfg, seed=c)) for c in range(10)}, cfg)
        m.to(device)
        g = torch.Generator().manual_seed(0)
        z = torch.randn(batch, cfg.latent_dim, generator=g).to(device).requires_grad_(True)
        labels = torch.randint(0, 10, (batch,), generator=g).to(device)
        assert torch.allclose(m.decode(z, labels), mask_loop(m, z, labels), atol=1e-6)  # same numbers
        ours = ms_per_call(m.decode, z, labels, repeats)
        loop = ms_per_call(lambda z_, y_: mask_loop(m, z_, y_), z, labels, repeats)
        print(f"route_ms.w{width}.b{batch}: {ours:.3f}")
        print(f"mask_loop_ms.w{width}.b{batch}: {loop:.3f}")
        ratios.append(ours / loop)
    print(f"routing_ratio_vs_mask_loop: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.3f}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_class_manifold"))
