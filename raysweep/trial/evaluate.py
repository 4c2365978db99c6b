"""A trained classifier of one trial, evaluated (Sec. 3.1-3.3): test error, every configured
attack's metrics and per-(sample, restart) records, every distance summary and column, the
sample pictures, and the per-image worst case over all attacks (robust accuracy). The trial
row's column names come from raysweep.results.names."""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

import numpy as np
import torch

from raysweep.attacks.min_eps import min_eps_metrics
from raysweep.attacks.records import AttackResult, concat_columns
from raysweep.attacks.robust import worst_case
from raysweep.config.schema import EvaluateSpec
from raysweep.config.trial_config import TrialConfig
from raysweep.data import Dataset
from raysweep.data.batch import Split
from raysweep.results.names import attack_column, distance_column, example_distance_column
from raysweep._core.tensors import release_freed_memory
from raysweep.training.loop import evaluate
from raysweep.trial.attack_runs import ConfiguredAttack, attacked_rows, build_attacks, run_attack, sample_images
from raysweep.trial.distances import distance_summary, measure_distance
from raysweep.trial.protocol import TrialOutput


def test_split(ds: Dataset, ev: EvaluateSpec) -> Split:
    """The test images the test error is measured on: evaluate.test_samples of them, else all."""
    return ds.test if ev.test_samples is None else ds.test.subset(torch.arange(min(ev.test_samples, len(ds.test))))


def evaluate_trial(cfg: TrialConfig, model: torch.nn.Module, ds: Dataset, manifolds: dict[str, Any],
                   device: torch.device, test_error: Optional[float] = None,
                   results: Optional[dict[str, AttackResult]] = None,
                   attacks: Optional[dict[str, ConfiguredAttack]] = None,
                   progress: Callable[[str], None] = lambda line: None) -> TrialOutput:
    """Test error, every attack's metrics and records, every distance summary and column.
    `test_error`, `results` (attack key -> AttackResult) and `attacks` (build_attacks) computed
    already, by a fused pack (raysweep.trial.pack_eval), are used instead of measuring or
    building them again; `progress` hears of each attack."""
    ev = cfg.evaluate
    attacks = attacks or build_attacks(ev)
    row: dict[str, Any] = {"test_error": evaluate(model, test_split(ds, ev), device) if test_error is None else test_error}
    examples: list[dict[str, np.ndarray]] = []
    samples: dict[str, dict[str, torch.Tensor]] = {}
    model.eval()
    for a in ev.attacks:
        release_freed_memory()  # each phase starts from what is live, not from the last one's free blocks
        key, built = a.key, attacks[a.key]
        progress(f"{key}: {a.samples} samples x {a.restarts} restarts")
        dists = ev.distances_of(a)
        batch = ds.test.batch(attacked_rows(len(ds.test), a.samples), device)
        result = (results or {}).get(key) or run_attack(built.attack, model, batch, manifolds, cfg.seed,
                                                        keep_images=bool(dists))
        release_freed_memory()  # the attack's working batches: see release_freed_memory
        row.update({attack_column(key, "attack"): a.name, attack_column(key, "family"): cfg.facts.attack_families[key]})
        row.update({attack_column(key, m): v for m, v in {**result.metrics(), **result.bound_counts()}.items()})
        if a.min_eps_steps:  # each sample's smallest successful eps, bisected from the records at eps
            bisected = min_eps_metrics(built.attack, model, batch, result.records, a.min_eps_steps, cfg.seed)
            row.update({attack_column(key, m): v for m, v in bisected.items()})
        cols = {k: np.asarray(v) for k, v in result.records.items()}
        cols["attack"] = np.full(len(cols["sample"]), key, dtype=object)
        cols["delta_l2"] = cols["real_l2"]  # ||x_adv - x||_2 to the real image, also for learned attacks
        for d in dists:
            rows, dist = measure_distance(d, result, batch, ds, manifolds, device)
            release_freed_memory()
            full = np.full(len(cols["sample"]), np.nan)
            full[rows] = dist
            cols[example_distance_column(d.method)] = full
            summary = distance_summary(dist, cols["real_l2"][rows])
            row.update({distance_column(d.method, key, m): v for m, v in summary.items()})
        examples.append(cols)
        samples[key] = sample_images(built, model, batch, manifolds, cfg.seed)
    columns = concat_columns(examples)
    row.update(worst_case(model, ds.test, columns, columns.get("attack", np.zeros(0)), device))
    return TrialOutput(row=row, examples=columns, samples=samples)


def evaluate_trained(cfg: TrialConfig, model: torch.nn.Module, stats: dict[str, Any], ds: Dataset,
                     manifolds: dict[str, Any], device: torch.device, **given: Any) -> TrialOutput:
    """evaluate_trial (`given`: its test_error / results / attacks), with the training stats and timings."""
    start = time.perf_counter()
    out = evaluate_trial(cfg, model, ds, manifolds, device, **given)
    out.epochs = stats.pop("epochs")
    out.row.update(stats, eval_time_s=time.perf_counter() - start, device=str(device))
    return out
