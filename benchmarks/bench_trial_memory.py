"""Resident memory of one sweep trial on FONTS-1000 at N = 40,000 (target < 1.5 GB on CPU).

Runs `raysweep.trial.run.run_trial` in a fresh child process, as a Tune worker does (the parent
generates the FONTS cache first when it is missing, outside the measurement): the data set is loaded
through the trial's per-process cache (images memory-mapped from the FONTS cache), the class-
balanced subset of N images is copied out, a normal CNN trains, then the test error on the
whole test split, an L-inf attack on 1000 test images x 5 restarts and an on-manifold attack,
and true-manifold and kNN distances of the adversarial examples. Memory does not grow with
epochs, so one epoch; the distance samples are smaller than the paper's to keep it minutes.

trial_rss_mb is the peak resident set (VmHWM), which counts the pages of the memory-mapped
image files the trial touched; those are shared page cache, not per-process memory, so
trial_anon_mb (private memory at the end) and trial_file_mb are printed beside it. The subset,
the attacked test rows and the kNN distance's pass over every training image (the paper's
neighbours come from the whole training set) read the cache files by explicit reads, one chunk
at a time (raysweep.data.file_rows), so none of the 750 MB training file stays resident;
trial_file_mb is the code of the loaded libraries. `--no-knn` measures a trial without the kNN.

    python benchmarks/bench_trial_memory.py [--fonts-dir /usr/share/fonts] [--n 40000] [--no-knn] [--smoke]
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from typing import Optional

import torch

from raysweep.data.fonts import font_files
from raysweep._core.errors import at_least_one, run_script

FONTS_1000 = 1000  # the paper's font count; `make fonts` installs them


def status_mb() -> dict[str, float]:
    """VmHWM, VmRSS, RssAnon, RssFile of this process in MB (Linux /proc)."""
    out = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) / 1024
    return out


def spec_dict(args: argparse.Namespace) -> dict:
    options = {"preset": "hard"} if args.smoke else {"preset": "hard", "fonts_dir": args.fonts_dir, "max_fonts": FONTS_1000}
    samples, restarts = (100, 1) if args.smoke else (1000, 5)
    measured = 20 if args.smoke else 200
    distances = [{"method": "true", "attack": "linf", "samples": measured}]
    if not args.no_knn:
        distances.append({"method": "knn", "attack": "linf", "samples": measured, "k": 50})
    return {
        "name": "bench-trial-memory",
        "dataset": {"name": "fonts", "options": options},
        "grid": {"n": [1000 if args.smoke else args.n], "seed": [1], "arch": ["cnn"]},
        "strategies": [{"name": "normal"}],
        "train": {"epochs": 1},
        "evaluate": {
            "attacks": [
                {"name": "linf", "samples": samples, "restarts": restarts},
                {"name": "onmanifold_true", "samples": samples // 2, "restarts": 1},
            ],
            "distances": distances,
        },
    }


def measure(spec: dict, threads: int, queue) -> None:
    """In the child: one trial, then this process's memory figures."""
    torch.set_num_threads(threads)
    from raysweep.config import parse_spec
    from raysweep.resolve.trials import expand
    from raysweep.trial.artifacts import dataset_for
    from raysweep.trial.protocol import TrialHooks
    from raysweep.trial.run import run_trial

    cfg = expand(parse_spec(spec, "bench_trial_memory"))[0]
    before = status_mb()
    started = time.perf_counter()
    out = run_trial(cfg, TrialHooks(device=torch.device("cpu")))
    seconds = time.perf_counter() - started
    ds = dataset_for(cfg)  # the per-process cache: the same object the trial used
    queue.put({**{f"after_{k}": v for k, v in status_mb().items()}, "baseline": before["VmRSS"], "seconds": seconds,
               "n_train": len(ds.train), "n_test": len(ds.test), "fonts": len(ds.meta["fonts"]), "n": cfg.n,
               "test_error": out.row["test_error"], "rows": len(out.examples["sample"])})


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fonts-dir", default="/usr/share/fonts", help="where `make fonts` put FONTS-1000's fonts")
    parser.add_argument("--n", type=int, default=40_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-knn", action="store_true", help="leave out the kNN distance (it reads all training images)")
    parser.add_argument("--smoke", action="store_true", help="bundled fonts, N=1000, small attacks, for CI")
    return parser.parse_args(argv)


def check(args: argparse.Namespace) -> None:
    """What the arguments need, checked in milliseconds before any work (one UserError line):
    FONTS-1000's fonts (the smoke run uses the bundled ones)."""
    if not args.smoke:
        font_files(args.fonts_dir, FONTS_1000)
    at_least_one(n=args.n)


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    check(args)
    from raysweep.data import load_dataset

    spec = spec_dict(args)
    load_dataset("fonts", **spec["dataset"]["options"])  # fills the cache (once) outside the child
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=measure, args=(spec, args.threads, queue))
    child.start()
    r = queue.get()
    child.join()
    print(f"# FONTS {r['n_train']} + {r['n_test']} images, {r['fonts']} fonts; N = {r['n']}; "
          f"test_error {r['test_error']:.3f}; {r['rows']} example rows; knn {'off' if args.no_knn else 'on'}")
    print(f"baseline_rss_mb: {r['baseline']:.0f}")
    print(f"trial_rss_mb: {r['after_VmHWM']:.0f}")
    print(f"trial_anon_mb: {r['after_RssAnon']:.0f}")
    print(f"trial_file_mb: {r['after_RssFile']:.0f}")
    print(f"trial_s: {r['seconds']:.1f}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_trial_memory"))
