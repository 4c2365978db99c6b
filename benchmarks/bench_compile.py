"""torch.compile for the fixed-shape training step, measured against eager in one process.

The step is the training loop's: the paper's CNN (Sec. 3.1), batch 100, cross-entropy, Adam with
L2 weight decay (raysweep.training.loop.make_optimizer), on FONTS-shaped inputs. On CUDA the
compiled step uses mode "reduce-overhead" (CUDA graphs: one small model's step is launch-bound
there); on CPU the default inductor mode (there is no launch overhead to hide, only fusion).
Prints, as `key: number` lines:
  eager_step_ms        mean eager step after warm-up
  compiled_step_ms     mean compiled step after warm-up
  compile_speedup      eager_step_ms / compiled_step_ms (> 1: compiled is faster)
  compile_s            wall time of the first compiled steps (compilation included)
  break_even_steps     steps a trial needs before compiling has paid for itself (inf: never)
  trial_steps_n1000    steps of one N = 1,000, 20-epoch trial, for scale (200)
raysweep keeps compilation off where break_even_steps exceeds a typical trial's steps.

    python benchmarks/bench_compile.py [--device cpu] [--steps 60] [--smoke]
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Optional

import torch
import torch.nn.functional as F

from raysweep._core.device import resolve_device
from raysweep._core.errors import at_least_one, run_script
from raysweep.models import build_model
from raysweep.training.loop import TrainConfig, make_optimizer


def _step_fn(model: torch.nn.Module, opt: torch.optim.Optimizer):
    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return step


def _time(step, x, y, steps: int, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step(x, y)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default=None)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--smoke", action="store_true", help="a few steps, to check the script runs")
    return p.parse_args(argv)


def check(args: argparse.Namespace) -> None:
    """What the arguments need, checked before any work (one UserError line)."""
    resolve_device(args.device)
    at_least_one(steps=args.steps)


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    check(args)
    device = resolve_device(args.device)
    steps = 5 if args.smoke else args.steps
    g = torch.Generator().manual_seed(0)
    x = torch.rand(100, 1, 28, 28, generator=g).to(device)
    y = torch.randint(0, 10, (100,), generator=g).to(device)
    cfg = TrainConfig()

    # smoke: the MLP (a smaller graph for inductor to compile) -- it checks the script, not the figure
    arch = "mlp" if args.smoke else "cnn"
    eager_model = build_model(arch, (1, 28, 28), 10, seed=1).to(device).train()
    eager = _step_fn(eager_model, make_optimizer(eager_model, cfg))
    _time(eager, x, y, 3, device)  # warm-up: allocator, thread pool
    eager_s = _time(eager, x, y, steps, device)

    model = build_model(arch, (1, 28, 28), 10, seed=1).to(device).train()
    opt = make_optimizer(model, cfg)
    mode = "reduce-overhead" if device.type == "cuda" else "default"
    # smoke: dynamo and AOT autograd without inductor's code generation (most of the compile time)
    options = {"backend": "aot_eager"} if args.smoke else {"mode": mode}
    compiled = torch.compile(_step_fn(model, opt), **options)
    start = time.perf_counter()
    _time(compiled, x, y, 3, device)  # compiles (and recompiles once Adam has state)
    compile_s = time.perf_counter() - start
    compiled_s = _time(compiled, x, y, steps, device)

    gain = eager_s - compiled_s
    print(f"device: {device.type}")
    print(f"eager_step_ms: {eager_s * 1e3:.3f}")
    print(f"compiled_step_ms: {compiled_s * 1e3:.3f}")
    print(f"compile_speedup: {eager_s / compiled_s:.3f}")
    print(f"compile_s: {compile_s:.2f}")
    print(f"break_even_steps: {compile_s / gain if gain > 0 else math.inf:.0f}")
    print("trial_steps_n1000: 200")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_compile"))
