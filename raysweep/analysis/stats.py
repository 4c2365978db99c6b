"""Small statistics behind the claims (raysweep/analysis/claims.py): correlation and slopes
(scipy), intervals over per-seed estimates, the isotonic fit of Fig. 7.

Intervals treat seeds as the independent units: trials of one seed share a nested training
subset (raysweep.data.subset), so they are not independent draws. Each claim computes its
statistic once per seed and takes Student's t-interval of the mean over seeds (t_interval):
nominal coverage at the 2-5 seeds sweeps run (tests/analysis/test_claim_intervals.py), where resampling
two seeds could only return a range of two numbers.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
from scipy import stats as scipy_stats

Interval = tuple[float, float]
NAN_INTERVAL: Interval = (float("nan"), float("nan"))


def _spread(*values: np.ndarray) -> bool:
    return all(len(v) > 1 and np.ptp(v) > 1e-12 for v in values)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r (scipy); NaN when either variable is constant (r is undefined then)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float(scipy_stats.pearsonr(x, y)[0]) if _spread(x, y) else float("nan")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (scipy; ties get average ranks); NaN for a constant variable."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float(scipy_stats.spearmanr(x, y)[0]) if _spread(x, y) else float("nan")


def slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y on x (scipy's linregress); NaN when x is constant."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float(scipy_stats.linregress(x, y).slope) if _spread(x) else float("nan")


# --- per-seed estimates ------------------------------------------------------------------------
def t_interval(estimates: np.ndarray, level: float) -> Interval:
    """Student-t interval of the mean of per-seed estimates (one number per seed): seeds are the
    independent units (each draws its own nested training subset), so with k seeds the interval
    has k - 1 degrees of freedom and covers at its nominal level even for k = 2, where a
    bootstrap over two seeds can only return a range of two numbers. NaN below 2 estimates."""
    v = np.asarray(estimates, float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return NAN_INTERVAL
    if np.ptp(v) == 0:
        return float(v[0]), float(v[0])
    lo, hi = scipy_stats.t.interval(level, len(v) - 1, loc=v.mean(), scale=scipy_stats.sem(v))
    return float(lo), float(hi)


def coefficients(y: np.ndarray, *columns: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of y on an intercept and the columns (intercept first); NaN
    when there are fewer rows than coefficients plus one or the columns are collinear."""
    x = np.column_stack([np.ones(len(y)), *columns]).astype(float)  # [rows, 1 + len(columns)]
    y = np.asarray(y, float)
    if len(y) <= x.shape[1] or np.linalg.matrix_rank(x) < x.shape[1]:
        return np.full(x.shape[1], np.nan)
    return np.linalg.lstsq(x, y, rcond=None)[0]


# --- isotonic fit (Fig. 7) --------------------------------------------------------------------
def isotonic_decreasing(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots (x, fitted y) of the least-squares non-increasing fit of y on x (pool adjacent
    violators); rows with equal x are pooled first, equal adjacent blocks merged, so the fitted
    values strictly decrease along the knots and the fit can be inverted."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ux, inv = np.unique(x, return_inverse=True)
    sums, counts = np.bincount(inv, y), np.bincount(inv).astype(float)
    blocks: list[list[float]] = []  # [sum, count, sum of x * count] per pooled block
    for s, c, xv in zip(sums, counts, ux):
        blocks.append([s, c, xv * c])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] <= blocks[-1][0] / blocks[-1][1]:
            s2, c2, x2 = blocks.pop()
            blocks[-1] = [blocks[-1][0] + s2, blocks[-1][1] + c2, blocks[-1][2] + x2]
    kx = np.array([b[2] / b[1] for b in blocks])  # a pooled block sits at its mean x
    ky = np.array([b[0] / b[1] for b in blocks])
    return kx, ky


def invert_decreasing(kx: np.ndarray, ky: np.ndarray, value: float) -> tuple[float, str]:
    """x where the piecewise-linear fit through the knots reaches `value`, and how it was read:
    "inside", or "above"/"below" when `value` lies beyond the fit's range (then the nearest
    end is returned: a bound, not an estimate)."""
    if len(kx) == 0 or not math.isfinite(value):
        return float("nan"), "none"
    if value > ky[0]:
        return float(kx[0]), "above"  # worse than the fit anywhere: x lies below the first knot
    if value < ky[-1]:
        return float(kx[-1]), "below"  # better than the fit anywhere: x lies beyond the last knot
    if len(kx) == 1:
        return float(kx[0]), "inside"
    return float(np.interp(value, ky[::-1], kx[::-1])), "inside"


def geometric_mean(values: np.ndarray) -> float:
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    return float(np.exp(np.log(v).mean())) if len(v) else float("nan")


def interval_text(ci: Optional[Interval]) -> str:
    if ci is None or not all(math.isfinite(c) for c in ci):
        return "n/a"
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"
