"""Does a learned class manifold stand in for the true one? Quality and cost of class VAE-GANs,
and the learned on-manifold attack held against the true one, in one process without Ray.

FONTS knows its true manifold (Sec. 3.1), so the learned attack (class VAE-GANs, Sec. 3.3) can be
checked against it: per normally trained classifier over a grid of N and seeds, the success of
`onmanifold_class` and of `onmanifold_true` on the same test images; r(learned, true) across the
grid and each one's r with test error (claim 3's relation). Beside them the VAE-GANs' quality per
class (raysweep.vaegan.manifold_quality: recon_acc / clean_acc, usable_share, inside_bound, read
with the largest-N classifier) and the CPU seconds each class took to train: one row of the
README's quality-versus-cost table per run.
On a data set without a true manifold (`--dataset fmnist`) the same run gives the quality rows and
the learned attack against test error alone.
`--strategies normal,onmanifold_true` adds classifiers trained otherwise (10 inner iterations, as
the demo's): the demo's learned-vs-true r over all its trials fell short where the models were
trained on the true manifold's adversarial examples, and this measures that on the same grid.
Prints `key: number` lines: `vaegan_cpu_s_per_class`, `recon_ratio_min`, `usable_share_min`,
`inside_bound_mean`, per class `recon_ratio.c<k>`, `usable_share.c<k>`, `inside_bound.c<k>`,
`success_learned.n<N>`, `success_true.n<N>`, `test_error.n<N>`, `r_learned_true`,
`r_learned_test_error`, `r_true_test_error` over the normally trained models (the `true` keys
only on FONTS); with other strategies also `success_learned.<strategy>.n<N>` (and `_true`,
`test_error.<strategy>.n<N>`), `r_learned_true.<strategy>` and `r_learned_true.all` (every model).
Usage: python benchmarks/bench_learned_manifold.py [--dataset fonts|fonts1000|fmnist]
       [--width 0.25] [--steps 100] [--lr 0.005]
       [--lam 3] [--train-size 2000] [--n 250,1000,4000] [--seeds 1,2] [--samples 300]
       [--strategies normal] [--outside clamp|exclude] [--eta 0.3] [--work DIR] [--smoke]
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

import raysweep.training.strategies  # noqa: F401  (registers the strategies)
from raysweep._core.device import resolve_device
from raysweep._core.errors import UserError, at_least_one, run_script
from raysweep.analysis.stats import pearson
from raysweep.attacks import ATTACKS
from raysweep.data import load_dataset
from raysweep.data.subset import subset
from raysweep.manifold.learned import ClassManifold, frozen_vae
from raysweep.manifold.quality import class_manifold_quality, held_out_images
from raysweep.manifold.true import TrueManifold
from raysweep.models import build_model
from raysweep.training.loop import TrainConfig, train
from raysweep.training.strategy import STRATEGIES, StrategyContext
from raysweep.vaegan.config import VAEGANConfig
from raysweep.vaegan.fit import train_vaegan
from raysweep.vaegan.job import class_rows
from raysweep.vaegan.network import serving_state_dict


# The data sets this benchmark reads, as load_dataset arguments; only FONTS knows its true manifold.
DATASETS = {
    "fonts": ("fonts", {"preset": "hard"}),
    "fonts1000": ("fonts", {"preset": "hard", "fonts_dir": "/usr/share/fonts", "max_fonts": 1000}),
    "fmnist": ("fmnist", {}),
}


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fonts", choices=sorted(DATASETS),
                   help="fonts: the bundled fonts; fonts1000: FONTS-1000 (`make fonts`); fmnist: `make fmnist`")
    p.add_argument("--width", type=float, default=0.25, help="VAE-GAN width (the demo's 0.25)")
    p.add_argument("--steps", type=int, default=100, help="VAE-GAN optimiser steps per class (the demo's 100)")
    p.add_argument("--lr", type=float, default=None, help="VAE-GAN lr (default: the paper's)")
    p.add_argument("--lam", type=float, default=None, help="VAE-GAN lambda (default: the paper's)")
    p.add_argument("--train-size", type=int, default=2000, help="images per class the VAE-GANs train on")
    p.add_argument("--n", default="250,1000,4000", help="classifier training sizes")
    p.add_argument("--seeds", default="1,2")
    p.add_argument("--strategies", default="normal",
                   help="training strategies of the classifiers, e.g. normal,onmanifold_true (10 inner iterations)")
    p.add_argument("--epochs", type=int, default=20, help="classifier epochs")
    p.add_argument("--samples", type=int, default=300, help="attacked test images per classifier")
    p.add_argument("--outside", default="clamp", choices=("clamp", "exclude"),
                   help="codes outside [-2, 2]^10: clamp them (the default) or leave the sample out")
    p.add_argument("--eta", type=float, default=None, help="latent L-inf budget of onmanifold_class (default: 0.3)")
    p.add_argument("--work", default=None, help="folder that keeps trained VAE-GANs and classifiers, so "
                   "attack variants (--outside, --eta) are measured on the same models without retraining")
    p.add_argument("--device", default=None)
    p.add_argument("--smoke", action="store_true", help="3 fonts, width 0.125, 5 steps, N 200, 1 seed, 1 epoch, 20 samples, normal and onmanifold_true")
    return p.parse_args(argv)


def _ints(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--{name} {text!r}: give comma-separated integers, e.g. 250,1000") from None
    at_least_one(**{name: min(values, default=0)})
    return values


def check(args: argparse.Namespace) -> None:
    """What the arguments need, checked before any work (one UserError line)."""
    resolve_device(args.device)
    _ints(args.n, "n"), _ints(args.seeds, "seeds")
    at_least_one(steps=args.steps, train_size=args.train_size, epochs=args.epochs, samples=args.samples)
    if not args.width > 0:
        raise UserError(f"--width {args.width}: must be positive (the demo's is 0.25)")
    names = _names(args.strategies)
    needs = {n: STRATEGIES.get(n).needs for n in names}  # an unknown name names the known ones
    if "normal" not in names:
        raise UserError(f"--strategies {args.strategies!r}: include normal (its largest-N model reads the "
                        "VAE-GANs' images and its rows give the headline r)")
    offered = ("true", "class") if args.dataset.startswith("fonts") else ("class",)
    lacking = [n for n, need in needs.items() if need not in (None, *offered)]
    if lacking:
        raise UserError(f"--strategies: {', '.join(lacking)} need a manifold this run does not have (it has "
                        f"{' and '.join(offered)}; only FONTS knows its true manifold)")


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def train_vaegans(ds, args, device) -> tuple[ClassManifold, float]:
    """One VAE-GAN per class on its first train_size training images; (manifold, CPU s per class)."""
    overrides = {"width": args.width, "steps": args.steps}
    overrides.update({k: v for k, v in (("lr", args.lr), ("lam", args.lam)) if v is not None})
    models, cpu = [], 0.0
    for c in range(ds.n_classes):
        images = ds.train.x[class_rows(ds.train.y, c, args.train_size, seed=0)]
        cfg = VAEGANConfig.for_dataset(ds.name, ds.image_shape, c, **overrides)
        kept = _kept(args, f"vaegan-{ds.data_hash}-{args.train_size}-{sorted(overrides.items())}-{c}")
        if kept is not None and kept.exists():
            saved = torch.load(kept)
            model = frozen_vae(saved["state"], cfg)
            cpu += saved["cpu_s"]
        else:
            start = time.process_time()
            model, _ = train_vaegan(images, cfg, seed=c, device=device)
            spent = time.process_time() - start
            cpu += spent
            if kept is not None:
                torch.save({"state": serving_state_dict(model), "cpu_s": spent}, kept)
        models.append(model.to(device))
    return ClassManifold(models, outside=args.outside), cpu / ds.n_classes


def _kept(args: argparse.Namespace, key: str) -> Optional[Path]:
    """Where --work keeps the model named by `key` (None without --work)."""
    if args.work is None:
        return None
    Path(args.work).mkdir(parents=True, exist_ok=True)
    return Path(args.work) / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"


def quality(ds, manifold: ClassManifold, reference: torch.nn.Module, device) -> list[dict]:
    rows = []
    for c in range(ds.n_classes):
        x, y = held_out_images(ds, c, limit=300)
        rows.append(class_manifold_quality(manifold.models[c], x.to(device), y.to(device), reference))
    return rows


def success(model, batch, manifold, attack: str, **hyper) -> float:
    result = ATTACKS.build(attack, restarts=1, **hyper)(model, batch, manifold=manifold,
                                                         generator=torch.Generator().manual_seed(0))
    return float(result.metrics()["success_rate_attempt"])


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    check(args)
    device = resolve_device(args.device)
    if args.smoke:
        args.width, args.steps, args.n, args.seeds, args.samples, args.epochs = 0.125, 5, "200", "1", 20, 1
        args.strategies = "normal,onmanifold_true"
    name, options = DATASETS[args.dataset]
    if args.smoke:
        name, options = "fonts", {"max_fonts": 3, "train_size": 3000, "test_size": 100}
    ds = load_dataset(name, **options)
    learned, cpu_per_class = train_vaegans(ds, args, device)
    print(f"vaegan_cpu_s_per_class: {cpu_per_class:.1f}")
    true = TrueManifold.from_dataset(ds) if ds.name == "fonts" else None
    batch = ds.test.batch(torch.arange(min(args.samples, len(ds.test))), device)
    manifolds = {"class": learned.to(device), **({"true": true.to(device)} if true is not None else {})}
    rows = []
    for strategy_name in _names(args.strategies):
        for n in _ints(args.n, "n"):
            for seed in _ints(args.seeds, "seeds"):
                model = classifier(ds, args, strategy_name, n, seed, manifolds, device)
                wrong = float((model(batch.x).argmax(1) != batch.y).float().mean())
                row = {"strategy": strategy_name, "n": n, "seed": seed, "test_error": wrong, "model": model,
                       "learned": success(model, batch, manifolds["class"], "onmanifold_class",
                                          **({} if args.eta is None else {"eta": args.eta}))}
                if true is not None:
                    row["true"] = success(model, batch, manifolds["true"], "onmanifold_true")
                rows.append(row)
    report(ds, args, rows, learned, true is not None, device)


def classifier(ds, args, strategy_name: str, n: int, seed: int, manifolds: dict, device) -> torch.nn.Module:
    """A CNN trained with `strategy_name` on N images (kept under --work; a normal one under the
    key earlier runs used), in eval mode."""
    model = build_model("cnn", ds.image_shape, ds.n_classes, seed=seed).to(device)
    prefix = "cnn" if strategy_name == "normal" else f"cnn-{strategy_name}-i10"
    kept = _kept(args, f"{prefix}-{ds.data_hash}-{n}-{seed}-{args.epochs}")
    if kept is not None and kept.exists():
        model.load_state_dict(torch.load(kept))
    else:
        ctx = StrategyContext(manifolds=manifolds, dataset_meta=ds.meta,
                              generator=torch.Generator().manual_seed(seed + 1), device=device)
        params = {} if strategy_name == "normal" else {"iterations": 10}
        strategy = STRATEGIES.build(strategy_name, ctx=ctx, **params)
        train(model, ds.train.subset(torch.as_tensor(subset(ds.train.y, n, seed))), strategy,
              TrainConfig(epochs=args.epochs, batch_size=100, lr=0.01), seed=seed, device=device)
        if kept is not None:
            torch.save(model.state_dict(), kept)
    return model.eval()


def report(ds, args, rows: list[dict], learned: ClassManifold, has_true: bool, device) -> None:
    """The quality lines, then the attacks' lines over normal models, then per other strategy."""
    normal = [r for r in rows if r["strategy"] == "normal"]
    reference = normal[-1]["model"]  # the largest N's last seed reads the VAE-GANs' images
    q = quality(ds, learned, reference, device)
    print(f"recon_ratio_min: {min(r['recon_acc'] / max(r['clean_acc'], 1e-12) for r in q):.3f}")
    print(f"usable_share_min: {min(r['usable_share'] for r in q):.3f}")
    print(f"inside_bound_mean: {np.mean([r['inside_bound'] for r in q]):.3f}")
    for c, r in enumerate(q):
        print(f"recon_ratio.c{c}: {r['recon_acc'] / max(r['clean_acc'], 1e-12):.3f}")
        print(f"usable_share.c{c}: {r['usable_share']:.3f}")
        print(f"inside_bound.c{c}: {r['inside_bound']:.3f}")
    keys = ("test_error", "learned") + (("true",) if has_true else ())
    for strategy_name in dict.fromkeys(r["strategy"] for r in rows):
        mine = [r for r in rows if r["strategy"] == strategy_name]
        tag = "" if strategy_name == "normal" else f".{strategy_name}"  # normal keeps the keys it always had
        for n in sorted({r["n"] for r in mine}):
            at = [r for r in mine if r["n"] == n]
            for key in keys:
                name = key if key == "test_error" else f"success_{key}"
                print(f"{name}{tag}.n{n}: {np.mean([r[key] for r in at]):.3f}")
        col = {k: np.array([r[k] for r in mine]) for k in keys}
        print(f"r_learned_test_error{tag}: {pearson(col['learned'], col['test_error']):.3f}")
        if has_true:
            print(f"r_learned_true{tag}: {pearson(col['learned'], col['true']):.3f}")
            print(f"r_true_test_error{tag}: {pearson(col['true'], col['test_error']):.3f}")
    if has_true and len(normal) < len(rows):
        print(f"r_learned_true.all: {pearson(np.array([r['learned'] for r in rows]), np.array([r['true'] for r in rows])):.3f}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_learned_manifold"))
