"""Every training strategy on FONTS: test error, regular and on-manifold robustness, cost.

For each strategy, N and seed: train the paper's CNN with the normal schedule (Adam, 20 epochs,
batch 100), then measure test error on the whole test split, the L-inf Adam-PGD success rate
(eps 0.3) and the true on-manifold success rate (eta 0.3) on the first `--attack-samples` test
images, both per attempt (the paper's rate). The learned strategies (onmanifold_class/_data)
first train the VAE-GANs on the full training split (`--vaegan-width`, `--vaegan-epochs`).
Separately, in one quiet process, one epoch at N = `--cost-n` per strategy gives the cost per
epoch relative to `normal`. Where time is proportional to images (CPU) that is ~1 + iterations x
adversarial share (~21 for 50/50). On a GPU these tiny batches are launch-bound: an attack
iteration costs a good part of a training step whatever its batch, and a decoder adds its own
kernels, so the ratios come out higher (H100: adversarial ~29, onmanifold_true ~47).

    python benchmarks/bench_strategies.py                      # the default grid (GPU advised)
    python benchmarks/bench_strategies.py --smoke              # seconds, CPU
    python benchmarks/bench_strategies.py --strategies normal,adversarial --n 500 --seeds 0

Prints a table and `key: number` lines: `test_error.<strategy>.n<N>`, `linf_success.<...>`,
`onmanifold_true_success.<...>` (means over seeds), `cost_vs_normal.<strategy>`, `run_time_s`.
"""
from __future__ import annotations

import argparse
import concurrent.futures as futures
import math
import multiprocessing
import statistics
import sys
import time
from typing import Any, Optional

import torch

from raysweep._core.errors import UserError, run_script

LEARNED = {"onmanifold_class": "class", "onmanifold_data": "data"}


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strategies", default="all", help="comma list, or 'all' (every registered one)")
    ap.add_argument("--n", default="500,2500")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--attack-samples", type=int, default=1000)
    ap.add_argument("--restarts", type=int, default=5, help="attack restarts (the paper: 5)")
    ap.add_argument("--vaegan-width", type=float, default=1.0)
    ap.add_argument("--vaegan-epochs", type=int, default=10)
    ap.add_argument("--cost-n", type=int, default=500)
    ap.add_argument("--workers", type=int, default=1, help="trials run side by side (processes)")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    ap.add_argument("--max-fonts", type=int, default=None)
    ap.add_argument("--budget-s", type=float, default=float("inf"),
                    help="stop waiting for trials after this many seconds and report what finished")
    ap.add_argument("--smoke", action="store_true", help="tiny grid, 1 epoch, for CI")
    args = ap.parse_args(argv)
    if args.smoke:
        args.n, args.seeds, args.epochs, args.attack_samples, args.restarts = "100", "0", 1, 50, 1
        args.vaegan_width, args.vaegan_epochs, args.cost_n, args.max_fonts = 0.125, 1, 100, 3
    return args


def check(args: argparse.Namespace) -> None:
    """What the arguments need, checked before any work (one UserError line): the fonts, the
    device, registered strategies, and N and seeds as integers."""
    import raysweep.training.strategies  # noqa: F401  (registers them)
    from raysweep.data.fonts import font_files
    from raysweep._core.device import resolve_device
    from raysweep.training.strategy import STRATEGIES

    font_files(None, args.max_fonts)
    resolve_device(args.device)
    unknown = [] if args.strategies == "all" else [s for s in args.strategies.split(",") if s not in STRATEGIES]
    if unknown:
        raise UserError(f"--strategies: unknown {', '.join(unknown)}; use any of {', '.join(STRATEGIES.names())} or all")
    for flag, values in (("--n", args.n), ("--seeds", args.seeds)):
        if not all(v.strip().isdigit() for v in values.split(",")):
            raise UserError(f"{flag} {values}: give comma-separated non-negative integers")


def load(args: argparse.Namespace):
    from raysweep.data import load_dataset

    return load_dataset("fonts", **({"max_fonts": args.max_fonts} if args.max_fonts else {}))


def train_learned(kinds: set[str], ds, args, device) -> dict[str, Any]:
    """State dicts of the VAE-GANs the learned strategies need (class-specific: one per class)."""
    from raysweep.vaegan.config import VAEGANConfig
    from raysweep.vaegan.network import serving_state_dict
    from raysweep.vaegan.fit import train_vaegan

    cfg = VAEGANConfig(width=args.vaegan_width, epochs=args.vaegan_epochs)
    out: dict[str, Any] = {}
    if "class" in kinds:
        out["class"] = {c: serving_state_dict(train_vaegan(ds.train.x[ds.train.y == c], cfg, seed=c, device=device)[0])
                        for c in range(ds.n_classes)}
    if "data" in kinds:
        out["data"] = serving_state_dict(train_vaegan(ds.train.x, cfg, seed=0, device=device)[0])
    return {"cfg": cfg, **out}


def manifolds_for(ds, learned: dict[str, Any]) -> dict[str, Any]:
    from raysweep.manifold.learned import ClassManifold, DataManifold
    from raysweep.manifold.true import TrueManifold

    out: dict[str, Any] = {"true": TrueManifold.from_dataset(ds)}
    if "class" in learned:
        out["class"] = ClassManifold.from_state_dicts(learned["class"], learned["cfg"])
    if "data" in learned:
        out["data"] = DataManifold.from_state_dict(learned["data"], learned["cfg"])
    return out


def run_trial(task: dict[str, Any]) -> dict[str, Any]:
    """Train one classifier and measure it; runs in a worker process (one torch thread)."""
    torch.set_num_threads(1)
    import raysweep.training.strategies  # noqa: F401
    from raysweep.attacks import ATTACKS
    from raysweep.data.subset import subset
    from raysweep.models import build_model
    from raysweep.training.loop import TrainConfig, evaluate, train
    from raysweep.training.strategy import STRATEGIES, StrategyContext

    ds, device, seed = task["ds"], torch.device(task["device"]), task["seed"]
    manifolds = {k: m.to(device) for k, m in manifolds_for(ds, task["learned"]).items()}
    split = ds.train.subset(subset(ds.train.y, task["n"], seed))
    model = build_model("cnn", ds.image_shape, ds.n_classes, seed=seed)
    ctx = StrategyContext(manifolds=manifolds, dataset_meta=ds.meta,
                          generator=torch.Generator().manual_seed(seed + 1), device=device)
    strategy = STRATEGIES.build(task["strategy"], ctx=ctx)
    result = train(model, split, strategy, TrainConfig(epochs=task["epochs"]), seed=seed, device=device)
    row = {k: task[k] for k in ("strategy", "n", "seed")}
    row["epoch_s"] = statistics.median(h["epoch_time_s"] for h in result.history)
    row["test_error"] = evaluate(model, ds.test, device)
    batch = ds.test.batch(slice(0, task["attack_samples"]), device)
    for name, manifold in (("linf", None), ("onmanifold_true", manifolds["true"])):
        attack = ATTACKS.build(name, restarts=task["restarts"])
        gen = torch.Generator().manual_seed(seed)
        row[name] = attack(model, batch, manifold=manifold, generator=gen).metrics()["success_rate_attempt"]
    return row


def cost_per_epoch(names: list[str], ds, learned, args, device, repeats: int = 3) -> dict[str, float]:
    """Seconds of one epoch at N = cost_n per strategy, in this process once the trials are done.

    Strategies take turns, `repeats` rounds, and each keeps its fastest epoch: on a machine shared
    with other work that is the least disturbed figure, and the first round's warm-up drops out.
    """
    from raysweep.data.subset import subset
    from raysweep.models import build_model
    from raysweep.training.loop import TrainConfig, train
    from raysweep.training.strategy import STRATEGIES, StrategyContext

    manifolds = {k: m.to(device) for k, m in manifolds_for(ds, learned).items()}
    split = ds.train.subset(subset(ds.train.y, args.cost_n, 0))
    best = {s: math.inf for s in names}
    for _ in range(repeats):
        for s in names:
            ctx = StrategyContext(manifolds=manifolds, dataset_meta=ds.meta,
                                  generator=torch.Generator().manual_seed(1), device=device)
            model = build_model("cnn", ds.image_shape, ds.n_classes, seed=0)
            result = train(model, split, STRATEGIES.build(s, ctx=ctx), TrainConfig(epochs=1), seed=0, device=device)
            best[s] = min(best[s], result.train_time_s)
    return best


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    check(args)
    torch.set_num_threads(1)
    import raysweep.training.strategies  # noqa: F401
    from raysweep._core.device import default_device
    from raysweep.training.strategy import STRATEGIES

    start = time.perf_counter()
    device = torch.device(args.device) if args.device else default_device()
    names = STRATEGIES.names() if args.strategies == "all" else args.strategies.split(",")
    names = ["normal"] + [s for s in names if s != "normal"]  # the reference for cost and effects
    ds = load(args)
    print(f"# fonts: {len(ds.meta['fonts'])}  train: {len(ds.train)}  test: {len(ds.test)}  device: {device}",
          flush=True)

    def tasks(strategies: list[str], learned: dict[str, Any]) -> list[dict[str, Any]]:
        return [dict(ds=ds, learned=learned, device=str(device), strategy=s, n=int(n), seed=int(seed),
                     epochs=args.epochs, attack_samples=args.attack_samples, restarts=args.restarts)
                for n in args.n.split(",") for s in strategies for seed in args.seeds.split(",")]

    rows: list[dict[str, Any]] = []
    pool = futures.ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn"))
    # strategies without learned manifolds start at once; the VAE-GANs train meanwhile
    pending = [pool.submit(run_trial, t) for t in tasks([s for s in names if s not in LEARNED], {})]
    learned = train_learned({LEARNED[s] for s in names if s in LEARNED}, ds, args, device)
    print(f"# vaegan_s: {time.perf_counter() - start:.1f}", flush=True)
    pending += [pool.submit(run_trial, t) for t in tasks([s for s in names if s in LEARNED], learned)]
    try:
        left = args.budget_s - (time.perf_counter() - start)
        for fut in futures.as_completed(pending, timeout=None if math.isinf(left) else max(1.0, left)):
            row = fut.result()
            rows.append(row)
            print(f"# {row['strategy']} n={row['n']} seed={row['seed']}: err {row['test_error']:.3f} "
                  f"linf {row['linf']:.3f} onm {row['onmanifold_true']:.3f} epoch {row['epoch_s']:.2f}s", flush=True)
    except futures.TimeoutError:
        print(f"# budget of {args.budget_s:.0f}s spent: {len(pending) - len(rows)} trials left out", flush=True)
        pool.shutdown(wait=False, cancel_futures=True)
        for child in multiprocessing.active_children():  # unfinished trials: stop them, so the
            child.terminate()  # cost phase below runs on a quiet machine and the script can exit
    pool.shutdown(wait=True, cancel_futures=True)
    cost = cost_per_epoch(names, ds, learned, args, device)
    report(rows, names, cost, time.perf_counter() - start)


def report(rows: list[dict[str, Any]], names: list[str], cost: dict[str, float], seconds: float) -> None:
    """Table (means over seeds) and `key: number` lines."""
    ns = sorted({r["n"] for r in rows})
    print(f"\n{'strategy':<22}{'N':>6}{'test_err':>10}{'linf_succ':>11}{'onm_true_succ':>15}{'cost':>7}{'seeds':>6}")
    for s in names:
        for n in ns:
            mine = [r for r in rows if r["strategy"] == s and r["n"] == n]
            if not mine:
                continue
            mean = {k: statistics.mean(r[k] for r in mine) for k in ("test_error", "linf", "onmanifold_true")}
            print(f"{s:<22}{n:>6}{mean['test_error']:>10.3f}{mean['linf']:>11.3f}{mean['onmanifold_true']:>15.3f}"
                  f"{cost[s] / cost['normal']:>7.1f}{len(mine):>6}")
    print()
    for s in names:
        for n in ns:
            mine = [r for r in rows if r["strategy"] == s and r["n"] == n]
            if not mine:
                continue
            for key, col in (("test_error", "test_error"), ("linf_success", "linf"),
                             ("onmanifold_true_success", "onmanifold_true")):
                print(f"{key}.{s}.n{n}: {statistics.mean(r[col] for r in mine):.4f}")
    for s in names:
        print(f"cost_vs_normal.{s}: {cost[s] / cost['normal']:.2f}")
    print(f"run_time_s: {seconds:.1f}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_strategies"))
