"""Attack records (one row per sample and restart) and the metrics computed from them.

Success rates follow the paper: successful attacks on correctly classified (and valid) test
samples. Two rates, named so they cannot be mixed up:
- success_rate_attempt: successful (sample, restart) pairs / correct-and-valid pairs; the
  authors' number, an average over restarts.
- success_rate_any: samples with at least one successful restart / correct-and-valid samples.

Norms: `linf`, `l2`, `l1` measure x_adv - x_ref, the attack's own reference (dec(z) for latent
attacks); `real_l2` measures x_adv - x with x the real test image, the delta the distance ratios
of Sec. 3.2 divide by (Fig. 3). The two differ only where x_ref != x (learned manifolds, whose
dec(z) is a reconstruction): such attacks set `real_l2`; for every other attack x_ref is x and
`real_l2` is `l2`.

`outside_bound` marks rows whose sample's latent code fell outside the manifold's box before the
manifold clamped it into the box (still valid, counted) or excluded it (invalid): only latent
attacks set it. `bound_counts` reports both numbers per attack (raysweep.manifold.learned).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

RECORD_COLUMNS = (
    "sample", "restart", "label", "clean_pred", "adv_pred", "correct", "valid", "success",
    "first_success_iter", "linf", "l2", "l1", "latent_norm", "loss", "real_l2", "outside_bound",
)
OUTSIDE_BOUND = "outside_bound"  # the sample's latent code fell outside the box (see the module docstring)
REAL_L2 = "real_l2"  # ||x_adv - x||_2 to the real test image (see the module docstring)
_DTYPES = {
    "sample": np.int64, "restart": np.int64, "label": np.int64, "clean_pred": np.int64,
    "adv_pred": np.int64, "correct": np.bool_, "valid": np.bool_, "success": np.bool_,
    "first_success_iter": np.int64, "linf": np.float32, "l2": np.float32, "l1": np.float32,
    "latent_norm": np.float32, "loss": np.float32, "real_l2": np.float32, "outside_bound": np.bool_,
}


def to_records(columns: dict[str, torch.Tensor | np.ndarray]) -> dict[str, np.ndarray]:
    """Tensors -> the contract's numpy columns (checked: all present, equal length).

    `real_l2` may be left out by attacks whose reference image is the real one: it is `l2` then."""
    if REAL_L2 not in columns and "l2" in columns:
        columns = {**columns, REAL_L2: columns["l2"]}
    if OUTSIDE_BOUND not in columns and "valid" in columns:  # attacks without a latent box
        columns = {**columns, OUTSIDE_BOUND: np.zeros(len(columns["valid"]), dtype=np.bool_)}
    missing = set(RECORD_COLUMNS) - set(columns)
    if missing:
        raise ValueError(f"attack records miss columns {sorted(missing)}")
    out = {}
    for name in RECORD_COLUMNS:
        value = columns[name]
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        out[name] = np.asarray(value).astype(_DTYPES[name], copy=False).reshape(-1)
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise ValueError(f"attack record columns differ in length: {lengths}")
    return out


def concat_records(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([p[name] for p in parts]) for name in RECORD_COLUMNS}


def concat_columns(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate per-attack column dicts (records plus a trial's own columns); a column one
    attack lacks is NaN for its rows."""
    keys = sorted({k for p in parts for k in p})
    return {k: np.concatenate([p[k] if k in p else np.full(len(p["sample"]), np.nan) for p in parts])
            for k in keys} if parts else {}


def compute_metrics(records: dict[str, np.ndarray]) -> dict[str, float | int]:
    """The contract's metrics from records (see module docstring); NaN where undefined."""
    eligible = records["correct"] & records["valid"]
    hit = records["success"] & eligible
    samples = records["sample"]
    eligible_samples = np.unique(samples[eligible])
    hit_samples = np.unique(samples[hit])
    all_samples = np.unique(samples)
    invalid_samples = np.unique(samples[~records["valid"]])
    correct_samples = np.unique(samples[records["correct"] & records["valid"]])

    def rate(num: int, den: int) -> float:
        return float(num) / den if den else float("nan")

    def mean_over_hits(col: str) -> float:
        return float(records[col][hit].mean()) if hit.any() else float("nan")

    return {
        "success_rate_attempt": rate(int(hit.sum()), int(eligible.sum())),
        "success_rate_any": rate(len(hit_samples), len(eligible_samples)),
        "mean_linf": mean_over_hits("linf"),
        "mean_l2": mean_over_hits("l2"),
        "mean_l1": mean_over_hits("l1"),
        "n_samples": len(all_samples),
        "n_correct": len(correct_samples),
        "n_excluded": len(invalid_samples),
        "clean_acc": rate(len(np.unique(samples[records["clean_pred"] == records["label"]])), len(all_samples)),
        "robust_acc": rate(len(robust_samples(records)), len(all_samples)),
    }


def robust_samples(records: dict[str, np.ndarray]) -> np.ndarray:
    """Samples classified correctly (the clean image, and the attack's reference image), valid,
    and broken by no restart: what robust accuracy counts (AutoAttack, RobustBench). A sample
    the attack cannot run on (invalid) is not counted robust, so excluding samples never raises it."""
    samples = records["sample"]
    good = (records["clean_pred"] == records["label"]) & records["correct"] & records["valid"]
    broken = np.unique(samples[records["success"] | ~good])
    return np.setdiff1d(np.unique(samples), broken)


def bound_counts(records: dict[str, np.ndarray]) -> dict[str, int]:
    """Samples whose latent code fell outside the box, and of those how many were clamped (kept,
    valid) or excluded (invalid). Not in compute_metrics: the trial table's columns are
    declared in raysweep.results.schema, which names these once it gains them."""
    samples, outside, valid = records["sample"], records[OUTSIDE_BOUND], records["valid"]
    return {"n_outside_bound": len(np.unique(samples[outside])),
            "n_clamped": len(np.unique(samples[outside & valid])),
            "n_excluded": len(np.unique(samples[~valid]))}


@dataclass
class AttackResult:
    """What an attack returns (docs/architecture.md, Attack contract).

    records: RECORD_COLUMNS -> 1-d numpy arrays, one row per (sample, restart).
    x_adv:   [restarts, B, C, H, W] adversarial images (batch order) when keep_images, else None.
    z_adv:   [restarts, B, d] latent codes z + zeta of latent attacks when keep_images, else None
             (x_adv == manifold.decode(z_adv, ctx)).
    """

    records: dict[str, np.ndarray]
    x_adv: Optional[torch.Tensor] = None
    z_adv: Optional[torch.Tensor] = None

    def metrics(self) -> dict[str, float | int]:
        return compute_metrics(self.records)

    def bound_counts(self) -> dict[str, int]:
        return bound_counts(self.records)

    def __len__(self) -> int:
        return len(self.records["sample"])
