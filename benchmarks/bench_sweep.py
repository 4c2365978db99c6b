"""Sweep engine benchmark: the smoke grid through `raysweep sweep` (Ray Tune, one CPU per trial)
against the same trials run one after another in a plain Python loop that lets torch use every
core (what a user would do without raysweep).

Prints, as `key: number` lines:
  sequential_s            wall time of the plain loop
  ray_s                   wall time of run_sweep on an already started local Ray
  ratio_vs_sequential     ray_s / sequential_s (target <= 0.75 on 2 cores)
  overhead_per_trial_s    (span * slots - sum of training + evaluation time) / models, span from
                          the first trial's start to the last one's end: what the engine adds per
                          trial (scheduling gaps, reporting, epoch checkpoints, data and manifold
                          set-up, row writes); target < 0.5
  startup_s               sweep start to first trial start (worker processes import torch once)
  ray_start_s             ray.init, not counted in ray_s
  ratio_vs_sequential_1thread   against a one-thread loop: on a machine shared with other
                          jobs, torch's multi-threaded loop can be far slower than one thread
                          (measured here: 10x), which makes the first ratio look too good
  ratio_floor             sequential_1thread_s / slots / sequential_s: the ratio an engine with
                          no cost at all would reach, since each trial runs on one thread while the
                          plain loop uses them all (measured here: 2 threads train 1.52x faster
                          than 1, so no engine beats 0.76 on 2 cores); not printed with --smoke

Usage: python benchmarks/bench_sweep.py [SPEC] [--strategies normal,adversarial] [--max-n 1000]
       [--seeds 1] [--epochs E] [--pack seeds] [--smoke]   (filters shrink the grid for a quick figure; default:
       the whole smoke grid without learned manifolds, about 20 minutes on 2 cores; --smoke: two
       one-epoch normal trials attacked on 20 test images, to check the script runs; its 1-thread figure reuses the
       multi-threaded loop's time).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import yaml

from raysweep._core.errors import UserError, run_script

ROOT = Path(__file__).resolve().parents[1]


def shrink(raw: dict, args: argparse.Namespace, storage: str) -> dict:
    """The spec with the requested filters, one CPU per trial, private storage, no retries."""
    raw = dict(raw, storage=storage, retries=0, concurrency=None, pack=args.pack)
    if args.strategies:
        keep = args.strategies.split(",")
        raw["strategies"] = [s for s in raw["strategies"] if s["name"] in keep]
    grid = dict(raw["grid"])
    if args.max_n:
        grid["n"] = [n for n in grid["n"] if n <= args.max_n]
    if args.seeds:
        grid["seed"] = grid["seed"][: args.seeds]
    raw["grid"] = grid
    if args.epochs:
        raw["train"] = dict(raw.get("train", {}), epochs=args.epochs)
    for s in raw["strategies"]:
        s["resources"] = {"cpu": 1, "gpu": 0}
    if args.smoke:
        raw["evaluate"] = smoke_evaluation(raw.get("evaluate", {}))
    return drop_learned(raw)


# The smoke run checks that the script runs and prints its figures, not the figures: every attack
# and distance of the spec stays, on this many test images, without the min-eps bisection.
SMOKE_SAMPLES = 20


def smoke_evaluation(ev: dict) -> dict:
    attacks = [{k: v for k, v in dict(a, samples=SMOKE_SAMPLES).items() if k != "min_eps_steps"}
               for a in ev.get("attacks", [])]
    distances = [dict(d, samples=min(SMOKE_SAMPLES, d.get("samples", SMOKE_SAMPLES))) for d in ev.get("distances", [])]
    return dict(ev, attacks=attacks, distances=distances)


def drop_learned(raw: dict) -> dict:
    """Without learned (VAE-GAN) manifolds: training them is a one-off cost shared by both sides,
    not what the sweep engine adds, and the plain loop has no actors to serve them."""
    from raysweep.resolve import catalog

    catalog.load()
    regs = catalog.registries()
    learned = {"class", "data"}
    raw["strategies"] = [s for s in raw["strategies"]
                         if regs["strategies"].get(s["name"]).needs_for(s.get("params", {})) not in learned]
    ev = dict(raw.get("evaluate", {}))
    ev["attacks"] = [a for a in ev.get("attacks", [])
                     if regs["attacks"].get(a["name"]).needs_for(a.get("params", {})) not in learned]
    keys = {a.get("label") or a["name"] for a in ev["attacks"]}
    ev["distances"] = [d for d in ev.get("distances", [])
                       if d["attack"] in keys and regs["distances"].get(d["method"]).needs not in learned]
    raw["evaluate"] = ev
    return raw


def run_sequential(spec_path: str, threads: int) -> tuple[float, int]:
    """Every trial in one process with `threads` torch threads; the data set is loaded once."""
    import torch

    from raysweep.trial.protocol import TrialHooks
    from raysweep.trial.run import run_trial
    from raysweep.resolve.validate import load_sweep

    from raysweep.trial.artifacts import dataset_for

    torch.set_num_threads(threads)
    _, trials = load_sweep(spec_path)
    dataset_for(trials[0])  # generate/load the data before timing: both sides start from the disk cache
    start = time.perf_counter()
    for t in trials:
        run_trial(t, TrialHooks())
    return time.perf_counter() - start, len(trials)


def run_ray(spec_path: str) -> dict[str, float]:
    """Figures of one run_sweep on a freshly started local Ray, one CPU per trial."""
    import ray

    from raysweep.results.store import TableStore
    from raysweep.tune.sweep_runner import run_sweep
    from raysweep.resolve.validate import load_spec

    cpus = os.cpu_count() or 1
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, namespace="raysweep", log_to_driver=False,
             object_store_memory=200 * 1024**2)
    init_s = time.perf_counter() - t0
    wall_start, t1 = time.time(), time.perf_counter()
    run_sweep(spec_path)
    wall = time.perf_counter() - t1
    spec = load_spec(spec_path, check_data=False)
    rows = TableStore(spec.storage, spec.name).read("trials").to_pandas()
    ray.shutdown()
    slots = min(cpus, len(rows))
    span = rows["finished_at"].max() - rows["started_at"].min()  # first trial start to last trial end
    # the trials' own training + evaluation, with the per-epoch learning-curve test error (the
    # plain loop runs it too: it is the trial's measurement, not what the engine adds)
    work = (rows["train_time_s"] + rows["eval_time_s"] + rows["curve_time_s"].fillna(0)).sum()
    busy = (rows["finished_at"] - rows["started_at"]).sum()  # each model from its start to its row
    return {"ray_start_s": init_s, "ray_s": wall, "startup_s": rows["started_at"].min() - wall_start,
            # slot time not spent training or evaluating: scheduling gaps, reporting, checkpoints,
            # data and manifold set-up, row writes; the one-off worker start is startup_s
            "overhead_per_trial_s": (span * slots - work) / len(rows),
            # its two parts: inside a model's own run (subset, model, reports with checkpoints, row
            # writes) and slot time with no model running (scheduling gaps, the tail where the
            # last trial runs alone: with packs, the longest pack)
            "in_trial_overhead_per_model_s": (busy - work) / len(rows),
            "idle_slot_per_model_s": (span * slots - busy) / len(rows)}


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("spec", nargs="?", default=str(ROOT / "sweeps" / "fonts-smoke.yaml"))
    p.add_argument("--strategies", default="")
    p.add_argument("--max-n", type=int, default=0)
    p.add_argument("--seeds", type=int, default=0)
    p.add_argument("--epochs", type=int, default=0)
    p.add_argument("--pack", default="none", choices=["none", "seeds"],
                   help="the spec's pack mode (seeds of one cell in one Tune trial)")
    p.add_argument("--smoke", action="store_true", help="two 1-epoch normal trials at the smallest N")
    args = p.parse_args(argv)
    if args.smoke:
        args.strategies, args.seeds, args.epochs = "normal", 2, 1
    return args


def check(args: argparse.Namespace) -> None:
    """What the arguments need, checked before any work (one UserError line): a spec that
    validates, and strategies it has."""
    from raysweep.resolve.validate import load_sweep

    spec, _ = load_sweep(args.spec)
    have = {s.name for s in spec.strategies}  # shrink() keeps strategies by name
    missing = [s for s in args.strategies.split(",") if s and s not in have]
    if missing:
        raise UserError(f"--strategies: {args.spec} has no strategy {', '.join(missing)}; it has {', '.join(sorted(have))}")


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    check(args)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # Ray renices its workers to 15; the plain loop runs at 0, so on a machine with any other load
    # the trials would lose to it for that alone (measured beside one busy process: 113 s vs 12 s)
    os.environ.setdefault("RAY_worker_niceness", "0")
    with tempfile.TemporaryDirectory() as tmp:
        raw = yaml.safe_load(Path(args.spec).read_text())
        if args.smoke:
            args.max_n = min(raw["grid"]["n"])
        seq_path, ray_path = Path(tmp, "seq.yaml"), Path(tmp, "ray.yaml")
        seq_path.write_text(yaml.safe_dump(shrink(raw, args, str(Path(tmp, "seq")))))
        ray_path.write_text(yaml.safe_dump(shrink(raw, args, str(Path(tmp, "ray")))))
        sequential, n = run_sequential(str(seq_path), os.cpu_count() or 1)
        # the smoke run checks the script, not the figure: one plain loop is enough there
        sequential_1 = sequential if args.smoke else run_sequential(str(seq_path), 1)[0]
        r = run_ray(str(ray_path))
    print(f"trials: {n}")
    print(f"packed_seeds: {int(args.pack == 'seeds')}")
    print(f"sequential_s: {sequential:.2f}")
    print(f"sequential_1thread_s: {sequential_1:.2f}")
    print(f"ray_start_s: {r['ray_start_s']:.2f}")
    print(f"ray_s: {r['ray_s']:.2f}")
    print(f"startup_s: {r['startup_s']:.2f}")
    print(f"ratio_vs_sequential: {r['ray_s'] / sequential:.3f}")
    print(f"ratio_vs_sequential_1thread: {r['ray_s'] / sequential_1:.3f}")
    if not args.smoke:
        print(f"ratio_floor: {sequential_1 / min(os.cpu_count() or 1, n) / sequential:.3f}")
    print(f"overhead_per_trial_s: {r['overhead_per_trial_s']:.3f}")
    print(f"in_trial_overhead_per_model_s: {r['in_trial_overhead_per_model_s']:.3f}")
    print(f"idle_slot_per_model_s: {r['idle_slot_per_model_s']:.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_sweep"))
