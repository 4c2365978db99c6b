"""Training cost per architecture and image shape, relative to the paper's CNN on 28x28.

The dry run's estimate (raysweep.resolve.cost) counts forward+backward images and divides by a measured
throughput; a ResNet-13 at 64 base channels or a CelebA-sized input costs many CNN images each, so
the plan scales by `ARCH_COST` (measured here). This script measures one Adam training step at
batch 100 for every built-in architecture on 28x28x1 (FONTS, EMNIST, F-MNIST) and 56x48x3
(CelebA), one thread, and prints, as `key: number` lines:
  images_per_s.<arch>.<shape>   measured training images per second
  cost.<arch>.<shape>           the CNN-28x28 rate over this rate (what ARCH_COST should hold)
  plan_cost.<arch>.<shape>      what raysweep.resolve.cost.ARCH_COST holds now
  max_plan_error                worst ratio between plan_cost and cost (target <= 1.5)
With --width W every architecture but the reference CNN is built at width W (the plan scales
by W ** raysweep.resolve.cost.WIDTH_EXPONENT): the keys then read cost.<arch>@<W>.<shape>.

    python benchmarks/bench_cost_model.py [--steps 20] [--width 0.25] [--smoke]
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional

import torch
import torch.nn.functional as F

from raysweep._core.errors import UserError, run_script
from raysweep.models import build_model
from raysweep.resolve.cost import arch_cost
from raysweep.training.loop import TrainConfig, make_optimizer

ARCHS = ("cnn", "mlp", "resnet13", "vgg")
SHAPES = {"28x28x1": ((1, 28, 28), 10), "56x48x3": ((3, 56, 48), 2)}


def rate(arch: str, shape: tuple[int, int, int], classes: int, steps: int, batch: int = 100, warm_up: int = 2,
         width: float = 1.0) -> float:
    model = build_model(arch, shape, classes, seed=1, **({"width": width} if width != 1.0 else {})).train()
    opt = make_optimizer(model, TrainConfig())
    x, y = torch.rand(batch, *shape), torch.randint(0, classes, (batch,))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(warm_up):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--width", type=float, default=1.0, help="width of every architecture but the reference CNN")
    p.add_argument("--smoke", action="store_true", help="one small step each, to check the script runs")
    return p.parse_args(argv)


def check(args: argparse.Namespace) -> None:
    """What the arguments need, checked before any work (one UserError line)."""
    if args.steps < 1 or args.width <= 0:
        raise UserError(f"--steps {args.steps} --width {args.width:g}: use at least 1 step and a positive width")


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    check(args)
    torch.set_num_threads(1)  # a trial's share on CPU (raysweep.resolve.cost's calibration)
    # smoke: batch 8, no warm-up (a ResNet-13 step at batch 100 on 56x48x3 takes seconds)
    steps, sizes = (1, {"batch": 8, "warm_up": 0}) if args.smoke else (args.steps, {})
    base = rate("cnn", *SHAPES["28x28x1"], steps, **sizes)
    worst = 1.0
    for arch in ARCHS:
        for name, (shape, classes) in SHAPES.items():
            reference = (arch, name) == ("cnn", "28x28x1")
            width = 1.0 if reference else args.width
            r = base if reference else rate(arch, shape, classes, steps, width=width, **sizes)
            cost, planned = base / r, arch_cost(arch, shape, width)
            worst = max(worst, planned / cost, cost / planned)
            label = arch if width == 1.0 else f"{arch}@{width:g}"
            print(f"images_per_s.{label}.{name}: {r:.0f}")
            print(f"cost.{label}.{name}: {cost:.2f}")
            print(f"plan_cost.{label}.{name}: {planned:.2f}")
    print(f"max_plan_error: {worst:.2f}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_cost_model"))
