"""Small statistics behind the claims (raysweep/analysis/claims.py): correlation, slopes, cluster bootstrap
intervals, the isotonic fit of Fig. 7. Pure numpy; every random draw takes a seed.

The bootstrap resamples clusters, not rows: trials of one seed share a nested training subset
(raysweep.data.subset), so they are not independent draws. `clusters` gives each row's cluster
(its seed, or its trial when a sweep has one seed); a resample draws as many clusters as there
are, with replacement, and a row enters with its cluster's multiplicity as a weight. Weighted
statistics over that weight matrix [samples, rows] give every resample at once.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
from scipy import stats as scipy_stats
from scipy.stats import rankdata

Interval = tuple[float, float]
NAN_INTERVAL: Interval = (float("nan"), float("nan"))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r; NaN when either variable is constant (r is undefined then)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    xc, yc = x - x.mean(), y - y.mean()
    den = math.sqrt(float((xc * xc).sum() * (yc * yc).sum()))
    return float((xc * yc).sum() / den) if den > 1e-12 else float("nan")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (Pearson on average ranks, so ties are handled)."""
    return pearson(rankdata(x), rankdata(y))


def slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y on x; NaN when x is constant."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    xc = x - x.mean()
    den = float((xc * xc).sum())
    return float((xc * (y - y.mean())).sum() / den) if den > 1e-12 else float("nan")


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


# --- cluster bootstrap ------------------------------------------------------------------------
def cluster_weights(clusters: np.ndarray, samples: int, seed: int, max_cells: int = 4_000_000):
    """Yield weight matrices [s, rows] (chunks of the `samples` resamples) for a cluster bootstrap."""
    _, codes = np.unique(np.asarray(clusters), return_inverse=True)
    k = int(codes.max()) + 1 if len(codes) else 0
    rng = np.random.default_rng(seed)
    per = max(1, max_cells // max(1, len(codes)))
    done = 0
    while done < samples:
        s = min(per, samples - done)
        counts = rng.multinomial(k, np.full(k, 1.0 / k), size=s) if k else np.zeros((s, 0))  # [s, k]
        yield counts[:, codes].astype(float)  # [s, rows]
        done += s


def _percentiles(values: np.ndarray, level: float) -> Interval:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return NAN_INTERVAL
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1.0 - alpha))


def bootstrap(stat: Callable[[np.ndarray], np.ndarray], clusters: np.ndarray, seed: int, samples: int,
              level: float) -> Interval:
    """Percentile interval of stat(weights [s, rows]) -> [s] over a seeded cluster bootstrap."""
    if len(clusters) == 0 or len(np.unique(clusters)) < 2:
        return NAN_INTERVAL  # one cluster: every resample is the sample itself, no spread to show
    out = np.concatenate([stat(w) for w in cluster_weights(clusters, samples, seed)])
    return _percentiles(out, level)


def weighted_slope(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Slopes of y on x under each row of weights w [s, n]; NaN where x has no spread."""
    sw = w.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        xm, ym = (w * x).sum(1, keepdims=True) / sw, (w * y).sum(1, keepdims=True) / sw
        sxx = (w * (x - xm) ** 2).sum(1)
        sxy = (w * (x - xm) * (y - ym)).sum(1)
        return np.where(sxx > 1e-12, sxy / sxx, np.nan)


def weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    sw = w.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        xm, ym = (w * x).sum(1, keepdims=True) / sw, (w * y).sum(1, keepdims=True) / sw
        sxx, syy = (w * (x - xm) ** 2).sum(1), (w * (y - ym) ** 2).sum(1)
        sxy = (w * (x - xm) * (y - ym)).sum(1)
        den = np.sqrt(sxx * syy)
        return np.where(den > 1e-12, sxy / den, np.nan)


def weighted_mean(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return (w * v).sum(1) / w.sum(1)


def weighted_median(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted medians [s] of values v [n] under weights w [s, n] (lower median on ties)."""
    order = np.argsort(v)
    v, w = v[order], w[:, order]
    cum = np.cumsum(w, axis=1)
    half = cum[:, -1:] / 2.0
    idx = (cum < half).sum(axis=1)
    return v[np.minimum(idx, len(v) - 1)]


def slope_ci(x, y, clusters, seed: int, samples: int, level: float) -> Interval:
    x, y = np.asarray(x, float), np.asarray(y, float)
    return bootstrap(lambda w: weighted_slope(x, y, w), np.asarray(clusters), seed, samples, level)


def pearson_ci(x, y, clusters, seed: int, samples: int, level: float) -> Interval:
    x, y = np.asarray(x, float), np.asarray(y, float)
    return bootstrap(lambda w: weighted_pearson(x, y, w), np.asarray(clusters), seed, samples, level)


def mean_ci(v, clusters, seed: int, samples: int, level: float) -> Interval:
    v = np.asarray(v, float)
    return bootstrap(lambda w: weighted_mean(v, w), np.asarray(clusters), seed, samples, level)


def median_ci(v, clusters, seed: int, samples: int, level: float) -> Interval:
    v = np.asarray(v, float)
    return bootstrap(lambda w: weighted_median(v, w), np.asarray(clusters), seed, samples, level)


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
