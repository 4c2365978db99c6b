"""Benchmark raysweep's regular attacks against the peers, in one process.

On a normally and an adversarially trained FONTS CNN (10 epochs; adversarial training with 10
inner iterations), at eps 0.3, 0.1 and 0.03, on the correctly classified test images:
- `linf`: the paper's Adam-PGD (5 restarts x 40 iterations, lr 0.005, Eq. 19 start, early stop);
  `linf_box`: the same with the start uniform in the L-inf box (`start="box"`, foolbox's);
- `foolbox`: foolbox 3.3.4 LinfAdamPGD (abs_stepsize 0.005, 40 steps), run 5 times;
- `torchattacks`: torchattacks 3.5.1 PGD (40 steps, alpha 2.5 eps / 40, Madry's rule), 5 times;
- `apgd_ce`, `apgd_t`: raysweep's APGD (100 iterations, 1 restart; APGD-T 9 targets) and
  `pyautoattack_apgd_ce`, `pyautoattack_apgd_t`: pyautoattack 0.2.0's own.
Success = samples misclassified by at least one restart. Peers are an optional extra
(`pip install -e '.[peers]'`); each missing one is skipped with a line.

Prints per model and eps `success_<attack>.<model>.eps<eps>:` and `seconds_<attack>...:` lines,
a table, and the summary figures (when the peers ran):
- linf_minus_foolbox_min: linf's success minus foolbox's, worst case (target >= -0.005);
  linf_box_minus_foolbox_min: the same for linf_box;
- apgd_minus_pyautoattack_min: apgd_ce minus pyautoattack's APGD-CE, worst case (>= -0.01);
- speed_vs_foolbox_min: foolbox's seconds / linf's, worst case over models and eps (>= 1.5);
- speed_vs_foolbox_normal_eps03: the same on the normal model at eps 0.3 (>= 3);
and a paired comparison on the same images (linf, linf_box and foolbox against each other):
images found by one attack only, the difference with a 95% interval, McNemar's exact p.
`--smoke` runs a tiny version in seconds; `--model-dir` keeps the trained models between runs.
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
import time
from typing import Callable, Optional

import torch

import raysweep.training.strategies  # noqa: F401  (registers the strategies)
from raysweep.attacks import ATTACKS
from raysweep.data import load_dataset
from raysweep.data.fonts import font_files
from raysweep._core.errors import UserError, run_script
from raysweep.data.batch import Batch
from raysweep._core.device import default_device
from raysweep.models.classifiers import build_model
from raysweep.training.loop import TrainConfig, evaluate, train
from raysweep.training.strategy import STRATEGIES, StrategyContext

PEERS = {"foolbox": "foolbox", "torchattacks": "torchattacks", "pyautoattack": "pyautoattack"}
Runner = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, float], torch.Tensor]  # -> [B] bool success


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def trained_models(args, device) -> tuple[dict[str, torch.nn.Module], object]:
    ds = load_dataset("fonts", max_fonts=args.fonts or None, train_size=args.train_size,
                      test_size=max(args.test_size, args.images))
    models = {}
    for name, params in (("normal", {}), ("adversarial", {"iterations": args.adv_iterations})):
        model = build_model("cnn", ds.image_shape, ds.n_classes, seed=0).to(device)
        path = None
        if args.model_dir:
            key = f"{name}-f{args.fonts}-n{args.train_size}-e{args.epochs}-i{args.adv_iterations}-{ds.data_hash[:12]}"
            path = os.path.join(args.model_dir, key + ".pt")
        if path and os.path.exists(path):
            model.load_state_dict(torch.load(path, map_location=device))
        else:
            ctx = StrategyContext(generator=torch.Generator().manual_seed(0), device=device)
            train(model, ds.train, STRATEGIES.build(name, ctx=ctx, **params), TrainConfig(epochs=args.epochs),
                  seed=0, device=device)
            if path:
                os.makedirs(args.model_dir, exist_ok=True)
                torch.save(model.state_dict(), path)
        models[name] = model.eval()
        print(f"test_error.{name}: {evaluate(model, ds.test, device):.4f}")
    return models, ds


def ours(name: str, **params) -> Runner:
    def run(model, x, y, eps):
        result = ATTACKS.build(name, eps=eps, **params)(model, Batch(x, y), generator=torch.Generator().manual_seed(0))
        rec = result.records
        hit = torch.zeros(len(y), dtype=torch.bool)
        hit[torch.from_numpy(rec["sample"][rec["success"]])] = True  # Batch.idx = position here
        return hit
    return run


def foolbox_pgd(restarts: int, iterations: int, lr: float) -> Runner:
    import foolbox

    def run(model, x, y, eps):
        fmodel = foolbox.PyTorchModel(model, bounds=(0, 1))
        attack = foolbox.attacks.LinfAdamPGD(abs_stepsize=lr, steps=iterations, random_start=True)
        hit = torch.zeros(len(y), dtype=torch.bool, device=x.device)
        for k in range(restarts):
            torch.manual_seed(k)
            hit |= attack(fmodel, x, y, epsilons=eps)[2]
        return hit.cpu()
    return run


def torchattacks_pgd(restarts: int, iterations: int) -> Runner:
    import torchattacks

    def run(model, x, y, eps):
        attack = torchattacks.PGD(model, eps=eps, alpha=2.5 * eps / iterations, steps=iterations, random_start=True)
        hit = torch.zeros(len(y), dtype=torch.bool, device=x.device)
        for k in range(restarts):
            torch.manual_seed(k)
            adv = attack(x, y)
            with torch.no_grad():
                hit |= model(adv).argmax(1) != y
        return hit.cpu()
    return run


def autoattack_apgd(targeted: bool, iterations: int) -> Runner:
    from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted

    def run(model, x, y, eps):
        if targeted:
            attack = APGDAttack_targeted(model, n_iter=iterations, norm="Linf", eps=eps, seed=0, device=x.device)
        else:
            attack = APGDAttack(model, n_iter=iterations, norm="Linf", eps=eps, seed=0, loss="ce", device=x.device)
        adv = attack.perturb(x, y)
        with torch.no_grad():
            return (model(adv).argmax(1) != y).cpu()
    return run


def runners(args) -> dict[str, Runner]:
    r, its = args.restarts, args.iterations
    out: dict[str, Runner] = {
        "linf": ours("linf", restarts=r, iterations=its),
        "linf_box": ours("linf", restarts=r, iterations=its, start="box"),
    }
    have = {peer: importlib.util.find_spec(module) is not None for peer, module in PEERS.items()}
    for peer, ok in have.items():
        if not ok:
            print(f"{peer}: not installed, skipped (pip install -e '.[peers]')")
    if have["foolbox"]:
        out["foolbox"] = foolbox_pgd(r, its, 0.005)
    if have["torchattacks"]:
        out["torchattacks"] = torchattacks_pgd(r, its)
    out["apgd_ce"] = ours("apgd_ce", iterations=args.apgd_iterations)
    if have["pyautoattack"]:
        out["pyautoattack_apgd_ce"] = autoattack_apgd(False, args.apgd_iterations)
    out["apgd_t"] = ours("apgd_t", iterations=args.apgd_iterations)
    if have["pyautoattack"]:
        out["pyautoattack_apgd_t"] = autoattack_apgd(True, args.apgd_iterations)
    return {k: v for k, v in out.items() if not args.attacks or k in args.attacks}


def measure(run: Runner, model, x, y, eps, clock: Callable[[], float]) -> tuple[float, float, torch.Tensor]:
    """(success rate, seconds, per-image hits [B] bool)."""
    sync(x.device)
    start = clock()
    hit = run(model, x, y, eps)
    sync(x.device)
    return float(hit.float().mean()), clock() - start, hit.cpu().bool()


PAIRS = (("linf", "foolbox"), ("linf_box", "foolbox"), ("linf", "linf_box"))


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar test: P(a split at least this uneven | each discordant image is
    equally likely to go either way), i.e. a binomial(only_a + only_b, 1/2) tail."""
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


def paired(hits: dict[tuple[str, float], dict[str, torch.Tensor]]) -> None:
    """Paired comparisons on the same images: is a success difference more than random-start noise?

    Per model and eps: images found by one attack only, the difference with its 95% interval
    (paired normal approximation) and McNemar's p; then the discordant counts pooled over all
    cells (`mcnemar_p_<a>_vs_<b>_pooled:`)."""
    print("| model | eps | a vs b | only a | only b | a - b | 95% interval | McNemar p |")
    print("|---|---|---|---|---|---|---|---|")
    pooled: dict[tuple[str, str], list[int]] = {}
    for (model_name, eps), row in hits.items():
        for a, b in PAIRS:
            if a not in row or b not in row:
                continue
            only_a, only_b, n = int((row[a] & ~row[b]).sum()), int((row[b] & ~row[a]).sum()), len(row[a])
            diff = (only_a - only_b) / n
            half = 1.96 * math.sqrt(max(only_a + only_b - (only_a - only_b) ** 2 / n, 0.0)) / n
            counts = pooled.setdefault((a, b), [0, 0])
            counts[0], counts[1] = counts[0] + only_a, counts[1] + only_b
            print(f"| {model_name} | {eps:g} | {a} vs {b} | {only_a} | {only_b} | {diff:+.4f} | "
                  f"[{diff - half:+.4f}, {diff + half:+.4f}] | {mcnemar_p(only_a, only_b):.3f} |")
    for (a, b), (only_a, only_b) in pooled.items():
        print(f"only_{a}_vs_{b}_pooled: {only_a}")
        print(f"only_{b}_vs_{a}_pooled: {only_b}")
        print(f"mcnemar_p_{a}_vs_{b}_pooled: {mcnemar_p(only_a, only_b):.4f}")


def summary(table: dict[tuple[str, float], dict[str, tuple[float, float]]]) -> None:
    def worst(f: Callable[[dict], Optional[float]]) -> Optional[float]:
        values = [v for v in (f(row) for row in table.values()) if v is not None]
        return min(values) if values else None

    figures = {
        "linf_minus_foolbox_min": worst(lambda r: r["linf"][0] - r["foolbox"][0] if "foolbox" in r else None),
        # the same with the start uniform in the box: what the paper's start (Eq. 19) costs
        "linf_box_minus_foolbox_min": worst(lambda r: r["linf_box"][0] - r["foolbox"][0]
                                            if "foolbox" in r and "linf_box" in r else None),
        "apgd_minus_pyautoattack_min": worst(lambda r: r["apgd_ce"][0] - r["pyautoattack_apgd_ce"][0]
                                             if "pyautoattack_apgd_ce" in r else None),
        "speed_vs_foolbox_min": worst(lambda r: r["foolbox"][1] / r["linf"][1] if "foolbox" in r else None),
    }
    normal = table.get(("normal", 0.3), {})
    if "foolbox" in normal:
        figures["speed_vs_foolbox_normal_eps03"] = normal["foolbox"][1] / normal["linf"][1]
    for key, value in figures.items():
        if value is None:
            print(f"{key}: skipped (its peer is not installed or not run)")
        else:
            print(f"{key}: {value:.4f}")


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--test-size", type=int, default=1000, help="test split size (the attacked images are its first)")
    parser.add_argument("--fonts", type=int, default=0, help="fonts in the data set (0: all bundled)")
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--adv-iterations", type=int, default=10, help="inner attack iterations of adversarial training")
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--apgd-iterations", type=int, default=100)
    parser.add_argument("--eps", default="0.3,0.1,0.03")
    parser.add_argument("--models", default="normal,adversarial")
    parser.add_argument("--attacks", default="", help="comma-separated subset of the attacks (default: all)")
    parser.add_argument("--model-dir", default="", help="keep the trained models here between runs")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--clock", choices=["wall", "process"], default="wall",
                        help="process: this process's CPU time, for a machine shared with other jobs (CPU only)")
    parser.add_argument("--repeats", type=int, default=1, help="time each attack this many times, keep the fastest")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, runs in seconds")
    args = parser.parse_args(argv)
    args.attacks = [a for a in args.attacks.split(",") if a]
    if args.smoke:
        args.threads = args.threads or 1  # tiny batches: threads only add synchronisation
        args.images, args.test_size, args.fonts, args.train_size, args.epochs, args.adv_iterations = 40, 40, 10, 500, 1, 2
        args.restarts, args.iterations, args.apgd_iterations = 2, 5, 10
    return args


OURS = ("linf", "linf_box", "apgd_ce", "apgd_t")
PEER_RUNNERS = {"foolbox": "foolbox", "torchattacks": "torchattacks", "pyautoattack_apgd_ce": "pyautoattack",
                "pyautoattack_apgd_t": "pyautoattack"}  # runner -> the peer it needs


def check(args: argparse.Namespace) -> None:
    """What the arguments need, checked in milliseconds before any work (one UserError line):
    the fonts, known model and attack names, and the peers an explicitly named attack needs."""
    font_files(None, args.fonts or None)
    unknown = set(args.models.split(",")) - {"normal", "adversarial"}
    if unknown:
        raise UserError(f"--models {args.models}: unknown {sorted(unknown)}; use normal and/or adversarial")
    for name in args.attacks:
        if name not in OURS and name not in PEER_RUNNERS:
            raise UserError(f"--attacks: unknown attack {name!r}; use any of {', '.join(OURS + tuple(PEER_RUNNERS))}")
        peer = PEER_RUNNERS.get(name)
        if peer and importlib.util.find_spec(PEERS[peer]) is None:
            raise UserError(f"--attacks {name} needs {peer}, which is not installed; "
                            "pip install -e '.[peers]' (the attack peers extra)")


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    check(args)
    clock = time.process_time if args.clock == "process" else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)
    device = default_device()
    print(f"device: {device.type}")
    print(f"clock: {args.clock}, threads: {torch.get_num_threads()}, repeats: {args.repeats}")
    models, ds = trained_models(args, device)
    batch = ds.test.batch(slice(0, args.images), device)
    attacks = runners(args)
    table: dict[tuple[str, float], dict[str, tuple[float, float]]] = {}
    hits: dict[tuple[str, float], dict[str, torch.Tensor]] = {}
    for model_name in args.models.split(","):
        model = models[model_name]
        with torch.no_grad():
            ok = model(batch.x).argmax(1) == batch.y
        x, y = batch.x[ok], batch.y[ok]
        print(f"correct.{model_name}: {len(y)}")
        for eps in (float(e) for e in args.eps.split(",")):
            row = table.setdefault((model_name, eps), {})
            for name, run in attacks.items():
                # the fastest of --repeats runs: another job's CPU bursts only ever add time; every
                # attack here is seeded, so the runs find the same images
                runs = [measure(run, model, x, y, eps, clock) for _ in range(args.repeats)]
                success, _, hit = runs[0]
                seconds = min(r[1] for r in runs)
                row[name] = (success, seconds)
                hits.setdefault((model_name, eps), {})[name] = hit
                print(f"success_{name}.{model_name}.eps{eps:g}: {row[name][0]:.4f}")
                print(f"seconds_{name}.{model_name}.eps{eps:g}: {row[name][1]:.3f}", flush=True)
    names = list(attacks)
    print("| model | eps | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for (model_name, eps), row in table.items():
        cells = [f"{row[n][0]:.3f} / {row[n][1]:.1f} s" for n in names]
        print(f"| {model_name} | {eps:g} | " + " | ".join(cells) + " |")
    summary(table)
    paired(hits)


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_attack_peers"))
