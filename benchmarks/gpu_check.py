"""GPU check: the figures a lent GPU machine should give, in one run of at most
8 minutes on one NVIDIA H100/H200, printed as `key: number` lines (comments start with `#`):

  train_img_per_s_gpu          raysweep's training loop (`train`), the paper's CNN, batch 100, FONTS
                               (FONTS-shaped noise where matplotlib, which renders FONTS, is missing)
  train_img_per_s_cpu          the same on the CPU with one thread: a sweep trial's CPU share, the
                               setting raysweep.resolve.cost's CPU calibration was measured in
  packed_img_per_s_k<K>        K CNNs trained as one fused pack (raysweep.models.packed, vmap):
                               training images/s of all K together, K = 1, 8, 32, 64
  packed_ratio_k<K>            that rate over the same K models trained one after another (`train`)
                               on the same device: > 1 is what packing buys
  packed_adv_img_per_s_k<K>,   the same for regular adversarial training (L-inf, examples crafted on
  packed_adv_ratio_k<K>        the pack; 10 inner iterations, bench_pack's default: the paper's 40
                               would make this part four times as long)
  inner_iteration_cost_gpu     one inner attack iteration of adversarial training in training images,
                               from the K=1 sequential rates: compare raysweep.resolve.cost.INNER_ITERATION_COST
  attack_rows_per_s_gpu        (model, sample) rows/s of the L-inf attack on a pack of 32 models
  vaegan_steps_per_s_gpu       VAE-GAN training steps/s (batch 100) at the paper's width
  paper_grid_gpu_hours         sweeps/fonts-paper.yaml's `--dry-run` plan (raysweep.resolve.plan.plan: each
                               trial holds its strategy's GPU share for estimate_seconds) with the CPU
                               calibration CALIBRATION_IMAGES_PER_S replaced by train_img_per_s_gpu:
                               the dry run's figure times calibration / measured rate. It assumes a
                               trial on a GPU share runs at the single-model rate, and keeps the
                               plan's CPU-measured inner-iteration and architecture costs
  gpu_sweep_ok                 1 when a two-trial Ray sweep (`run_sweep`, FONTS, gpu 0.25 per trial)
                               writes both trials' rows; without Ray the same two trials run through
                               the trial function (`run_trial`) instead: trials_without_ray_ok
A part whose imports are missing prints `# skipped <keys>: <module> is not installed` and the rest
runs; a part or pack size that would start after --budget-s seconds is skipped the same way.

On the device (Python 3.12 with torch, torchvision, pandas, pyarrow; no network, no pydantic,
pyyaml, matplotlib or ray), carry the wheels raysweep needs, downloaded here (about 22 MiB; build/
is git-ignored, so they are never committed):

    pip download --python-version 3.12 --only-binary=:all: --platform manylinux2014_x86_64 \\
        --platform manylinux_2_28_x86_64 -d build/wheels-py312 pydantic pyyaml
    pip download --no-deps --python-version 3.12 --only-binary=:all: --platform manylinux2014_x86_64 \\
        --platform manylinux_2_28_x86_64 -d build/wheels-py312 matplotlib contourpy cycler fonttools kiwisolver \\
        pyparsing packaging

then run (carry: ["build/wheels-py312"]; without pip there, `python -m zipfile -e W /tmp/deps` each wheel W):

    pip install --no-index --no-deps --target /tmp/deps build/wheels-py312/*.whl && \\
        PYTHONPATH=$PWD:/tmp/deps python benchmarks/gpu_check.py

Ray's own wheel is 76 MiB, over the 64 MiB a device run carries, so there gpu_sweep_ok is skipped
unless Ray is installed some other way. Here: python benchmarks/gpu_check.py --smoke [--no-ray]
(tiny sizes, K in 1 and 2, a quarter-width VAE-GAN; seconds on CPU, where the *_gpu figures are
measured on the CPU).
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable, Optional

import torch

from raysweep._core.device import default_device  # torch only: safe where pydantic is missing

ROOT = Path(__file__).resolve().parents[1]
PAPER_SPEC = ROOT / "sweeps" / "fonts-paper.yaml"
SMOKE_SPEC = ROOT / "sweeps" / "fonts-smoke.yaml"  # the sweep part's data set and training settings
SWEEP = "gpu-check"  # the sweep part's name (its tables live in a temporary folder)
START = time.perf_counter()

# Sizes: FULL fits 8 minutes on one GPU (the pack part, sequential K=64 adversarial, is the longest);
# SMOKE checks the script in seconds on 2 CPU cores (a paper-width VAE-GAN step alone takes 3 s there).
FULL = dict(train_n=10_000, train_epochs=2, repeats=2, n=1000, adv_iterations=10, ks=(1, 8, 32, 64),
            attack_k=32, samples=100, iterations=20, vaegan_steps=20, vaegan_width=1.0)
SMOKE = dict(train_n=500, train_epochs=1, repeats=1, n=100, adv_iterations=2, ks=(1, 2),
             attack_k=2, samples=10, iterations=3, vaegan_steps=1, vaegan_width=0.25)


def absent(modules: tuple[str, ...]) -> Optional[str]:
    """The first of `modules` that cannot be imported, else None (checked before importing any)."""
    return next((m for m in modules if importlib.util.find_spec(m) is None), None)


def spent(args) -> bool:
    return time.perf_counter() - START > args.budget_s


def best(measure: Callable[[], list[float]], repeats: int) -> list[float]:
    """The best of `repeats` runs, figure by figure: a busy moment slows a run, never speeds it."""
    return [max(v) for v in zip(*(measure() for _ in range(repeats)))]


def train_part(args, device: torch.device, measured: dict) -> None:
    from bench_train import fonts_or_synthetic, ours

    use_fonts = absent(("matplotlib",)) is None
    if not use_fonts:
        print("# FONTS is rendered through matplotlib, which is not installed: FONTS-shaped noise instead")
    split, classes, is_fonts = fonts_or_synthetic(args.train_n, use_fonts)
    print(f"# train data: {'FONTS' if is_fonts else 'synthetic'}, N {len(split)}, batch 100, {args.train_epochs} epochs")
    cfg = argparse.Namespace(arch="cnn", epochs=args.train_epochs)
    ours(split, classes, cfg, device)  # warm-up: allocator, cuDNN autotuning, lazy imports
    gpu = best(lambda: [ours(split, classes, cfg, device)], args.repeats)[0]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a trial's share (Ray sets OMP_NUM_THREADS to its 1 CPU)
    try:
        cpu = best(lambda: [ours(split, classes, cfg, torch.device("cpu"))], args.repeats)[0]
    finally:
        torch.set_num_threads(threads)
    measured["train_gpu"] = gpu
    print(f"train_img_per_s_gpu: {gpu:.0f}")
    print(f"train_img_per_s_cpu: {cpu:.0f}")


def vaegan_part(args, device: torch.device, measured: dict) -> None:
    from bench_vaegan import images_per_s

    from raysweep.vaegan.config import VAEGANConfig

    steps = images_per_s(args.vaegan_width, args.vaegan_steps, device) / VAEGANConfig().batch_size
    print(f"# VAE-GAN: width {args.vaegan_width:g} (1: the paper's 64/128/256 channels), batch 100")
    print(f"vaegan_steps_per_s_gpu: {steps:.2f}")


def attack_part(args, device: torch.device, measured: dict) -> None:
    from bench_pack import attack_rates

    alone, packed = best(lambda: list(attack_rates(args.attack_k, args, device)), args.repeats)
    print(f"# attack: L-inf, {args.iterations} iterations, {args.samples} samples x {args.attack_k} models; "
          f"packed over one model after another: {packed / alone:.3f}")
    print(f"attack_rows_per_s_gpu: {packed:.0f}")


def paper_grid_part(args, device: torch.device, measured: dict) -> None:
    from raysweep.resolve import catalog
    from raysweep.config import parse_spec
    from raysweep.config.yaml_file import read_yaml
    from raysweep.resolve.plan import plan, strategy_requests
    from raysweep.resolve.cost import CALIBRATION_IMAGES_PER_S, estimate_seconds
    from raysweep.resolve.trials import resolve_trials
    from raysweep.resolve.validate import fill_defaults

    spec = parse_spec(read_yaml(PAPER_SPEC, "sweep spec", str(PAPER_SPEC)), str(PAPER_SPEC))
    catalog.load(spec.plugins)
    spec = fill_defaults(spec)
    trials = resolve_trials(spec)  # no data check: the cost needs the grid, not FONTS-1000 installed
    requests = strategy_requests(spec, None)

    def gpu_hours(rate: float) -> float:
        return plan(trials, requests, {t.trial_id: estimate_seconds(spec, t, rate) for t in trials}).gpu_hours

    print(f"# paper grid: {len(trials)} trials; the dry run (CPU-calibrated, "
          f"{CALIBRATION_IMAGES_PER_S['cpu']:.0f} images/s) says {gpu_hours(CALIBRATION_IMAGES_PER_S['cpu']):.2f} GPU-hours")
    print(f"paper_grid_gpu_hours: {gpu_hours(measured['train_gpu']):.2f}")


def pack_part(args, device: torch.device, measured: dict) -> None:
    from bench_pack import train_rates

    modes = ("sequential", True)  # K models one after another; the fused pack (vmap)
    alone = {}
    for name, prefix in (("normal", "packed"), ("adversarial", "packed_adv")):
        train_rates(1, args, device, name, modes)  # warm-up: cuDNN plans, vmap, the strategy's imports
        for k in args.ks:
            if spent(args):
                print(f"# skipped {prefix}_img_per_s_k{k}, {prefix}_ratio_k{k}: the {args.budget_s:g} s budget is spent")
                continue
            seq, fused = best(lambda: train_rates(k, args, device, name, modes), args.repeats)
            alone.setdefault(name, seq)  # K=1 first: one model alone
            print(f"{prefix}_img_per_s_k{k}: {fused:.0f}")
            print(f"{prefix}_ratio_k{k}: {fused / seq:.3f}")
    if len(alone) == 2:  # normal images/s over adversarial images/s = 1 + iterations * cost
        print(f"inner_iteration_cost_gpu: {(alone['normal'] / alone['adversarial'] - 1) / args.adv_iterations:.3f}")


def sweep_spec(storage: str) -> dict:
    """Two normal-training trials (seeds 1, 2) at the smoke spec's smallest N, one epoch, each
    asking for a quarter GPU, attacked by L-inf only (no manifold actors to start)."""
    import yaml

    raw = yaml.safe_load(SMOKE_SPEC.read_text())
    return {"name": SWEEP, "dataset": raw["dataset"], "storage": storage, "retries": 0,
            "grid": {"n": [min(raw["grid"]["n"])], "seed": [1, 2], "arch": ["cnn"]},
            "strategies": [{"name": "normal", "resources": {"cpu": 1, "gpu": 0.25}}],
            "train": {**raw["train"], "epochs": 1},
            "evaluate": {"attacks": [{"name": "linf", "samples": 100, "restarts": 1}]}}


def ray_sweep(path: str, storage: str, device: torch.device) -> None:
    import ray

    from raysweep.results.store import TableStore
    from raysweep.tune.sweep_runner import run_sweep

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local cluster for this run only
    # without CUDA a fake GPU, so the 0.25 requests are scheduled as on the device (torch still runs on CPU)
    gpus = {} if device.type == "cuda" else {"num_gpus": 1}
    ray.init(address="local", num_cpus=2, include_dashboard=False, namespace="raysweep", log_to_driver=False,
             object_store_memory=200 * 1024**2, **gpus)
    try:
        start = time.perf_counter()
        summary = run_sweep(path)
        took = time.perf_counter() - start
    finally:
        ray.shutdown()
    rows = TableStore(storage, SWEEP).read("trials").to_pandas()
    print(f"# gpu sweep: {summary.ok} ok, {summary.failed} failed, on {', '.join(sorted(set(rows['device'])))}, "
          f"{took:.1f} s after Ray started")
    print(f"gpu_sweep_ok: {int(summary.ok == 2 and summary.failed == 0)}")


def trials_without_ray(path: str) -> None:
    from raysweep.trial.run import run_trial
    from raysweep.resolve.validate import load_sweep

    _, trials = load_sweep(path)
    rows = [run_trial(t).row for t in trials]
    print(f"# trials without Ray: {len(rows)} on {', '.join(sorted({r['device'] for r in rows}))}")
    print(f"trials_without_ray_ok: {int(len(rows) == 2 and all(math.isfinite(r['test_error']) for r in rows))}")


def sweep_part(args, device: torch.device, measured: dict) -> None:
    import yaml

    why_not = "--no-ray" if args.no_ray else "ray is not installed" if absent(("ray",)) else None
    with tempfile.TemporaryDirectory() as tmp:
        storage, path = str(Path(tmp, "results")), str(Path(tmp, f"{SWEEP}.yaml"))
        Path(path).write_text(yaml.safe_dump(sweep_spec(storage)))
        if why_not is None:
            ray_sweep(path, storage, device)
        else:
            print(f"# skipped gpu_sweep_ok: {why_not}; the same 2 trials run through the trial function instead")
            trials_without_ray(path)


# (keys, modules the part imports beyond torch, the part); in this order, the cheap and the
# essential first, so a budget running out cuts the pack part's largest K
PARTS = (
    ("train_img_per_s_gpu, train_img_per_s_cpu", ("pydantic",), train_part),
    ("vaegan_steps_per_s_gpu", ("pydantic",), vaegan_part),
    ("attack_rows_per_s_gpu", ("pydantic",), attack_part),
    ("paper_grid_gpu_hours", ("pydantic", "yaml"), paper_grid_part),
    ("gpu_sweep_ok", ("pydantic", "yaml", "matplotlib"), sweep_part),
    ("packed_*, packed_adv_*, inner_iteration_cost_gpu", ("pydantic",), pack_part),
)


def run_parts(args, device: torch.device) -> int:
    """Run every part that can run; returns how many failed. A failing part prints its traceback
    and a `# failed` line, and the others still run: one device run must give every figure it can."""
    measured: dict[str, float] = {}
    failed = 0
    for keys, needs, part in PARTS:
        if (gone := absent(needs)) is not None:
            print(f"# skipped {keys}: {gone} is not installed")
        elif part is paper_grid_part and "train_gpu" not in measured:
            print(f"# skipped {keys}: it scales by train_img_per_s_gpu, which was not measured")
        elif spent(args):
            print(f"# skipped {keys}: the {args.budget_s:g} s budget is spent")
        else:
            start = time.perf_counter()
            try:
                part(args, device, measured)
            except Exception as e:  # reported, counted and turned into the exit code below
                traceback.print_exc()
                print(f"# failed {keys}: {type(e).__name__}: {e}")
                failed += 1
            print(f"# {part.__name__}: {time.perf_counter() - start:.1f} s")  # what to trim if a run overruns
    return failed


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} ({device}, torch {torch.__version__})"
    return f"cpu ({torch.get_num_threads()} threads, torch {torch.__version__})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes, K in 1 and 2: seconds on CPU")
    p.add_argument("--no-ray", action="store_true", help="run the sweep part's trials without Ray")
    p.add_argument("--budget-s", type=float, default=330,  # the last step (K=64 adversarial) still ends by 8 min
                   help="start no part or pack size after this many seconds")
    args = p.parse_args()
    vars(args).update(SMOKE if args.smoke else FULL)
    device = default_device()
    print(f"# device: {describe(device)}")
    if device.type != "cuda":
        print("# no CUDA here: every *_gpu figure below is measured on the CPU")
    failed = run_parts(args, device)
    print(f"gpu_check_s: {time.perf_counter() - START:.1f}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
