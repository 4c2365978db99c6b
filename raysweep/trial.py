"""Run one trial of a sweep without Ray: one classifier, trained and then evaluated (Sec. 3).

`run_trial(cfg, hooks)` builds the data subset (N images, seeded, class-balanced), the model and
the strategy; trains it (resuming from `hooks.state` and calling `hooks.on_epoch` after every
epoch, which the Tune trainable turns into a report with a checkpoint); then measures the test
error, runs every configured attack and distance measurement, and returns the trial row and the
per-(sample, restart) example columns. The Tune trainable (raysweep.tune.trainable) is thin glue
over this function, and a sweep spec may name another function with the same signature.
"""
from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import torch

from raysweep.attacks.min_eps import min_eps_columns
from raysweep.attacks.records import concat_columns
from raysweep.attacks.robust import worst_case
from raysweep.config.trial_config import TrialConfig
from raysweep.config.schema import AttackSpec, DistanceSpec
from raysweep.data.batch import Batch
from raysweep.data import Dataset, load_dataset
from raysweep.device import default_device
from raysweep.errors import UserError
from raysweep.tensors import release_freed_memory

SOURCE_MODEL = "source_model"  # the TrialHooks.manifolds key of the transfer attack's source model


@dataclass
class TrialHooks:
    """What the caller hands a trial besides its config.

    state:     a training checkpoint (from on_epoch's state_dict_fn) to resume from, or None.
    on_epoch:  on_epoch(epoch, metrics, state_dict_fn), called after each training epoch.
    manifolds: named manifolds provided by the caller, e.g. learned VAE-GANs served by the sweep's
               shared actors ({"class": ..., "data": ...}); "true" is built here when needed;
               "source_model": the transfer attack's source classifier (supplement E).
    device:    torch device; None picks CUDA when torch sees it, else CPU.
    """

    state: Optional[dict[str, Any]] = None
    on_epoch: Optional[Callable[..., None]] = None
    manifolds: dict[str, Any] = field(default_factory=dict)
    device: Optional[torch.device] = None


@dataclass
class TrialOutput:
    """row: trial-table columns measured by the trial; examples: example-table column arrays."""

    row: dict[str, Any]
    examples: dict[str, np.ndarray]
    epochs: list[dict[str, float]] = field(default_factory=list)  # one row per epoch (training.epoch_log)
    # attack key -> {"idx", "label", "x", "x_adv", "success"} for the first SAMPLE_IMAGES attacked
    # test images (the report's Fig. 2 grid); the trainable stores them beside the tables.
    samples: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)


@functools.lru_cache(maxsize=2)  # a FONTS-1000 data set holds ~290 MB of latents and prototypes
def _cached_dataset(name: str, options_json: str) -> Dataset:
    # Reused actors run many trials in one process: load each data set once per process.
    return load_dataset(name, **json.loads(options_json))


def dataset_for(cfg: TrialConfig) -> Dataset:
    return _cached_dataset(cfg.dataset.name, json.dumps(cfg.dataset.options, sort_keys=True))


def provide_manifolds(cfg: TrialConfig, ds: Dataset, given: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The manifolds this trial needs: the given ones, plus the FONTS true manifold built locally."""
    out = dict(given)
    needs = set(cfg.facts.manifolds)
    if "true" in needs and "true" not in out:
        from raysweep.manifold.true import TrueManifold

        out["true"] = TrueManifold.from_dataset(ds)
    if cfg.facts.source_model:
        needs.add(SOURCE_MODEL)
    missing = needs - set(out)
    if missing:
        raise UserError(f"trial needs manifold(s) {sorted(missing)} that the sweep did not provide; "
                        "run it through `raysweep sweep` so the manifold actors (and the transfer attack's "
                        "source model) start")
    return {k: (v.to(device) if hasattr(v, "to") else v) for k, v in out.items()}


@dataclass
class Prepared:
    """One trial ready to train: its model (initialised from the seed), data subset, strategy and
    learning-curve hook (resumed from the checkpoint's rows, if any)."""

    model: torch.nn.Module
    split: Any  # raysweep.data.batch.Split of the N training images
    strategy: Any  # raysweep.training.strategy.Strategy
    log: Any  # raysweep.training.epoch_log.EpochLog

    def stats(self, train_time_s: float, history: list[dict[str, float]], family: str) -> dict[str, Any]:
        last = history[-1] if history else {}
        return {"train_time_s": train_time_s, "train_error": last.get("train_error", float("nan")),
                "strategy_family": family, "curve_time_s": self.log.seconds, "epochs": self.log.rows}


def prepare(cfg: TrialConfig, ds: Dataset, manifolds: dict[str, Any], device: torch.device,
            state: Optional[dict[str, Any]] = None, on_epoch: Optional[Callable[..., None]] = None) -> Prepared:
    """Subset, model and strategy of one trial (Sec. 3.1 and 3.4-3.6), not yet trained."""
    from raysweep.data.subset import subset
    from raysweep.models import build_model
    from raysweep.training.epoch_log import EPOCH_TEST_SAMPLES, EpochLog
    from raysweep.training.strategy import STRATEGIES, StrategyContext

    idx = subset(ds.train.y, cfg.n, cfg.seed)
    split = ds.train.subset(torch.as_tensor(idx))
    model = build_model(cfg.arch.name, ds.image_shape, ds.n_classes, seed=cfg.seed, **cfg.arch.options)
    ctx = StrategyContext(manifolds=manifolds, dataset_meta=ds.meta,
                          generator=torch.Generator().manual_seed(cfg.seed + 1), device=device)
    strategy = STRATEGIES.build(cfg.strategy.name, ctx=ctx, **cfg.strategy.params)
    log = EpochLog(model, ds.test.subset(attacked_rows(len(ds.test), EPOCH_TEST_SAMPLES)), device,
                   on_epoch, state)  # learning curves, on the same images every trial
    return Prepared(model, split, strategy, log)


def strategy_family(cfg: TrialConfig) -> str:
    from raysweep.training.strategy import STRATEGIES

    return STRATEGIES.get(cfg.strategy.name).family


def build_and_train(cfg: TrialConfig, ds: Dataset, manifolds: dict[str, Any], hooks: TrialHooks,
                    device: torch.device) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Subset, model, strategy, training (Sec. 3.1 and 3.4-3.6); returns the model and train stats."""
    from raysweep.training.loop import train

    p = prepare(cfg, ds, manifolds, device, hooks.state, hooks.on_epoch)
    result = train(p.model, p.split, p.strategy, cfg.train, seed=cfg.seed, device=device, state=hooks.state,
                   on_epoch=p.log)
    return p.model, p.stats(result.train_time_s, result.history, strategy_family(cfg))


def build_attack(spec: AttackSpec):
    """The attack a spec's `evaluate.attacks` entry configures (hyperparameters only, no data)."""
    from raysweep.attacks import ATTACKS

    return ATTACKS.build(spec.name, **spec.build_params())


def result_family(spec: AttackSpec) -> str:
    """The family the attack's registry entry carries (what analysis groups by)."""
    from raysweep.attacks import ATTACKS

    return ATTACKS.get(spec.name).family


def run_attack(spec: AttackSpec, model: torch.nn.Module, batch: Batch, manifolds: dict[str, Any],
               seed: int, keep_images: bool):
    """One configured attack on the given test images (Sec. 3.1-3.3)."""
    attack = build_attack(spec)
    need = attack.needs
    gen = torch.Generator(device=batch.x.device).manual_seed(seed)
    if need == "source_model":  # transfer (supplement E): the sweep's source model, served like manifolds
        return attack(model, batch, source_model=manifolds.get(SOURCE_MODEL), generator=gen, keep_images=keep_images)
    return attack(model, batch, manifold=manifolds.get(need) if need else None, generator=gen,
                  keep_images=keep_images)


def attacked_rows(n_test: int, samples: int) -> torch.Tensor:
    """The test rows every trial attacks: a fixed seeded draw, so all trials of a sweep attack the
    same images (paired comparisons) and no data set's file order (FONTS cycles through fonts)
    decides which fonts or classes are attacked."""
    perm = torch.randperm(n_test, generator=torch.Generator().manual_seed(0))
    return perm[: min(samples, n_test)].sort().values


def _measured_pairs(records: dict[str, np.ndarray], limit: int) -> np.ndarray:
    """Row numbers of successful attempts on correctly classified, valid samples (at most limit)."""
    ok = records["success"].astype(bool) & records["correct"].astype(bool) & records["valid"].astype(bool)
    return np.flatnonzero(ok)[:limit]


def measure_distance(spec: DistanceSpec, result, batch: Batch, ds: Dataset, manifolds: dict[str, Any],
                     device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """(record rows, ||x_adv - pi(x_adv)||_2 per row) for one distance spec (Sec. 3.2, supplement C)."""
    from raysweep.manifold.distance import DISTANCES

    rows = _measured_pairs(result.records, spec.samples)
    if rows.size == 0:
        return rows, np.zeros(0)
    entry = DISTANCES.get(spec.method)
    fn = entry.factory(**spec.build_params())
    # records are (sample, restart) pairs; Batch.idx maps the sample back to its batch position
    pos = {int(s): i for i, s in enumerate(batch.idx.tolist())}
    col = torch.as_tensor([pos[int(s)] for s in result.records["sample"][rows]])
    restart = torch.as_tensor(result.records["restart"][rows])
    x_adv = result.x_adv[restart.to(result.x_adv.device), col.to(result.x_adv.device)].to(device)  # [M, C, H, W]
    clean = batch.select(col.to(batch.x.device))
    need = entry.needs
    res = fn(x_adv, clean, manifold=manifolds.get(need) if need != "train" else None,
             train_images=ds.train.images_source if need == "train" else None)  # streamed, not all resident
    return rows, res.distance.detach().cpu().double().numpy()


def _distance_summary(dist: np.ndarray, delta_l2: np.ndarray) -> dict[str, float]:
    if dist.size == 0:
        return {"n": 0}
    return {"n": int(dist.size), "mean_dist": float(dist.mean()), "median_dist": float(np.median(dist)),
            "mean_delta_l2": float(delta_l2.mean()),
            "median_ratio": float(np.median(dist / np.maximum(delta_l2, 1e-12)))}


SAMPLE_IMAGES = 6  # test images per attack kept as pictures (Fig. 2)


def sample_images(spec: AttackSpec, model: torch.nn.Module, batch: Batch, manifolds: dict[str, Any],
                  seed: int) -> dict[str, torch.Tensor]:
    """The attack once more on the first SAMPLE_IMAGES attacked images, one restart, images kept:
    2% of a 300-sample attack, where keeping every attack's images would cost memory."""
    k = min(SAMPLE_IMAGES, len(batch))
    small = batch.select(torch.arange(k, device=batch.x.device))
    one = spec.model_copy(update={"restarts": 1})
    result = run_attack(one, model, small, manifolds, seed, keep_images=True)
    success = torch.as_tensor(result.records["success"][:k].astype(bool))
    return {"idx": small.idx.cpu(), "label": small.y.cpu(), "x": small.x.detach().cpu().half(),
            "x_adv": result.x_adv[0].detach().cpu().half(), "success": success}


def evaluate_trial(cfg: TrialConfig, model: torch.nn.Module, ds: Dataset, manifolds: dict[str, Any],
                   device: torch.device, test_error: Optional[float] = None, results: Optional[dict[str, Any]] = None,
                   progress: Callable[[str], None] = lambda line: None) -> TrialOutput:
    """Test error, every attack's metrics and records, every distance summary and column.
    `test_error` and `results` (attack key -> AttackResult) computed already, by a fused pack
    (raysweep.pack_eval), are used instead of measuring them again; `progress` hears of each attack."""
    from raysweep.training.loop import evaluate

    ev = cfg.evaluate
    test = ds.test if ev.test_samples is None else ds.test.subset(torch.arange(min(ev.test_samples, len(ds.test))))
    row: dict[str, Any] = {"test_error": evaluate(model, test, device) if test_error is None else test_error}
    examples: list[dict[str, np.ndarray]] = []
    samples: dict[str, dict[str, torch.Tensor]] = {}
    model.eval()
    for a in ev.attacks:
        release_freed_memory()  # each phase starts from what is live, not from the last one's free blocks
        key = a.key
        progress(f"{key}: {a.samples} samples x {a.restarts} restarts")
        dists = ev.distances_of(a)
        batch = ds.test.batch(attacked_rows(len(ds.test), a.samples), device)
        result = (results or {}).get(key) or run_attack(a, model, batch, manifolds, cfg.seed, keep_images=bool(dists))
        release_freed_memory()  # the attack's working batches: see release_freed_memory
        row.update({f"{key}.attack": a.name, f"{key}.family": result_family(a)})
        row.update({f"{key}.{m}": v for m, v in {**result.metrics(), **result.bound_counts()}.items()})
        if a.min_eps_steps:  # each sample's smallest successful eps, bisected from the records at eps
            row.update(min_eps_columns(key, build_attack(a), model, batch, result.records, a.min_eps_steps, cfg.seed))
        cols = {k: np.asarray(v) for k, v in result.records.items()}
        cols["attack"] = np.full(len(cols["sample"]), key, dtype=object)
        cols["delta_l2"] = cols["real_l2"]  # ||x_adv - x||_2 to the real image, also for learned attacks
        for d in dists:
            rows, dist = measure_distance(d, result, batch, ds, manifolds, device)
            release_freed_memory()
            full = np.full(len(cols["sample"]), np.nan)
            full[rows] = dist
            cols[f"dist_{d.method}"] = full
            summary = _distance_summary(dist, cols["real_l2"][rows])
            row.update({f"{d.method}.{key}.{m}": v for m, v in summary.items()})
        examples.append(cols)
        samples[key] = sample_images(a, model, batch, manifolds, cfg.seed)
    columns = concat_columns(examples)
    row.update(worst_case(model, ds.test, columns, columns.get("attack", np.zeros(0)), device))
    return TrialOutput(row=row, examples=columns, samples=samples)


def run_trial(cfg: TrialConfig, hooks: Optional[TrialHooks] = None) -> TrialOutput:
    """Train and evaluate one classifier; the whole of one sweep trial, without Ray."""
    from raysweep.resolve import catalog

    catalog.load()  # register every data set, model, strategy and attack by name
    hooks = hooks or TrialHooks()
    device = hooks.device or default_device()
    ds = dataset_for(cfg)
    manifolds = provide_manifolds(cfg, ds, hooks.manifolds, device)
    model, stats = build_and_train(cfg, ds, manifolds, hooks, device)
    return evaluate_trained(cfg, model, stats, ds, manifolds, device)


def evaluate_trained(cfg: TrialConfig, model: torch.nn.Module, stats: dict[str, Any], ds: Dataset,
                     manifolds: dict[str, Any], device: torch.device, **given: Any) -> TrialOutput:
    """evaluate_trial (`given`: its test_error / results), with the training stats and timings."""
    start = time.perf_counter()
    out = evaluate_trial(cfg, model, ds, manifolds, device, **given)
    out.epochs = stats.pop("epochs")
    out.row.update(stats, eval_time_s=time.perf_counter() - start, device=str(device))
    return out
