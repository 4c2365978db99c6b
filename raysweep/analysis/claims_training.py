"""Claims about training strategies: 3b (Sec. 3.4.1, Fig. 5 top) and 5 (Sec. 3.6, Fig. 7 top).

(3b) On-manifold adversarial training boosts generalization: the test-error change against
     normal training at the same N and seed (paired), per N and pooled over the small N.
(5)  Adversarial training needs more data: the factor N_adversarial / N_normal at equal test
     error. Normal training's test error is fitted against log N per seed by an isotonic
     (non-increasing) fit, which is inverted at each adversarially trained model's test error;
     factors are pooled as a geometric mean, per architecture (never pooled across them).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from raysweep.analysis import claims_base as B
from raysweep.analysis import load as L
from raysweep.analysis import manifold_kinds as MK
from raysweep.analysis import stats as S
from raysweep.analysis import thresholds as T

TITLE3B = "On-manifold adversarial training boosts generalization"
TITLE5 = "Adversarial training needs more data"
FALSIFIER3B = (f"fails if the interval of the mean test-error change (on-manifold adversarial minus normal, "
               f"same N and seed, pooled over the small N) reaches {T.CLAIM3B_MAX_CHANGE:g} or above")
FALSIFIER5 = (f"fails if, for some architecture, the interval of the N factor at equal test error reaches "
              f"{T.CLAIM5_MIN_FACTOR:g} or below")


def _keys(df: pd.DataFrame) -> list[str]:
    return [c for c in (L.N, L.SEED, L.ARCH) if c in df.columns]


def paired_changes(trials: pd.DataFrame, strategy: str) -> pd.DataFrame:
    """Rows (N, seed[, arch], change) of test error under `strategy` minus normal training."""
    keys = _keys(trials)
    if not L.has_columns(trials, L.TEST_ERROR) or L.N not in keys:
        return pd.DataFrame(columns=[*keys, "change"])
    part = lambda s: trials[trials[L.STRATEGY] == s].groupby(keys)[L.TEST_ERROR].mean()  # noqa: E731
    change = (part(strategy) - part(B.REFERENCE_STRATEGY)).dropna()
    return change.rename("change").reset_index()


def strategy_groups(trials: pd.DataFrame) -> dict[str, list[str]]:
    """On-manifold adversarial training strategies per manifold (claim 3b is per manifold)."""
    if L.STRATEGY not in trials.columns:
        return {}
    return MK.group(L.strategies_of_family(trials, L.ONMANIFOLD), MK.of_strategy)


def claim_onmanifold_training(trials: pd.DataFrame, seed: int = 0, manifold: Optional[str] = None) -> B.ClaimResult:
    """(3b) Sec. 3.4.1: mean paired test-error change of on-manifold adversarial training vs
    normal, per N and pooled over the lower half of the N grid, for the strategies of one manifold
    (None: the first measured); the manifold's first strategy decides."""
    if L.STRATEGY not in trials.columns:
        return B.result("3b", TITLE3B, [], FALSIFIER3B, "no strategy column")
    manifold, strategies = MK.pick(strategy_groups(trials), manifold)
    if not strategies:
        return B.result("3b", TITLE3B, [], FALSIFIER3B, "no on-manifold adversarial training in the sweep",
                        manifold=manifold)
    stats: list[B.Statistic] = []
    note = ""
    for i, strategy in enumerate(strategies):
        ch = paired_changes(trials, strategy)
        if ch.empty:
            if i == 0:
                note = f"no {strategy} trial shares N and seed with a normal trial"
                stats.append(B.undefined(f"mean test error change {strategy} - normal", f"interval < {T.CLAIM3B_MAX_CHANGE:g}"))
            continue
        for n, g in ch.groupby(L.N):
            stats.append(B.seed_stat(f"test error change {strategy} - normal at N={int(n)} ({len(g)} pairs)",
                                     B.per_seed(g, lambda h: h["change"].mean())))
        cut = float(np.quantile(np.unique(ch[L.N]), T.CLAIM3B_SMALL_N_QUANTILE))
        small = ch[ch[L.N] <= cut]
        name = f"mean test error change {strategy} - normal, N <= {cut:g} ({len(small)} pairs)"
        per_seed = B.per_seed(small, lambda h: h["change"].mean())  # each seed's mean over the small N
        stats.append(B.seed_check(name, per_seed, "ci<", T.CLAIM3B_MAX_CHANGE) if i == 0 else B.seed_stat(name, per_seed))
    return B.result("3b", TITLE3B, stats, FALSIFIER3B, note, manifold=manifold)


# --- claim 5 -----------------------------------------------------------------------------------
def data_factors(trials: pd.DataFrame, strategy: str) -> pd.DataFrame:
    """Per (seed, N) of `strategy`: the N normal training of the same seed needs for the same test
    error (inverse of its isotonic fit in log N), the factor and how it was read ("inside", or a
    bound: "above" = worse than normal at its smallest N, "below" = better than at its largest)."""
    rows = []
    for seed_value, g in trials.groupby(L.SEED) if L.SEED in trials.columns else [(0, trials)]:
        normal = g[g[L.STRATEGY] == B.REFERENCE_STRATEGY].dropna(subset=[L.TEST_ERROR])
        other = g[g[L.STRATEGY] == strategy].dropna(subset=[L.TEST_ERROR])
        if normal[L.N].nunique() < 2 or other.empty:
            continue
        kx, ky = S.isotonic_decreasing(np.log(normal[L.N].to_numpy(float)), normal[L.TEST_ERROR].to_numpy(float))
        for n, error in other.groupby(L.N)[L.TEST_ERROR].mean().items():
            log_n, how = S.invert_decreasing(kx, ky, float(error))
            rows.append({L.SEED: seed_value, L.N: n, "test_error": float(error), "n_normal": float(np.exp(log_n)),
                         "factor": float(n) / float(np.exp(log_n)), "read": how})
    return pd.DataFrame(rows, columns=[L.SEED, L.N, "test_error", "n_normal", "factor", "read"])


def informative(f: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The points that can decide, and how many were dropped. A point beyond normal training's
    range is a bound: "above" (worse than normal's smallest N) a lower bound on the factor,
    "below" an upper one. Bounds on the threshold's far side are kept (they pull the estimate
    toward the threshold, the conservative way); a lower bound <= the threshold or an upper
    bound >= it is consistent with either verdict and is dropped."""
    tol = 1e-9  # N / exp(log N) is not exactly 1
    useless = (((f["read"] == "above") & (f["factor"] <= T.CLAIM5_MIN_FACTOR + tol))
               | ((f["read"] == "below") & (f["factor"] >= T.CLAIM5_MIN_FACTOR - tol)))
    return f[~useless], int(useless.sum())


def factor_statistic(name: str, f: pd.DataFrame) -> B.Statistic:
    """Per seed the geometric mean factor; the t-interval over seeds is taken on the log scale
    (factors multiply) and shown back on the factor scale."""
    logs = B.per_seed(f, lambda g: float(np.log(g["factor"].to_numpy(float)).mean()))
    stat = B.seed_check(name, logs, "ci>", float(np.log(T.CLAIM5_MIN_FACTOR)))
    stat.value = float(np.exp(stat.value))
    stat.interval = None if stat.interval is None else (float(np.exp(stat.interval[0])), float(np.exp(stat.interval[1])))
    stat.threshold = f"interval > {T.CLAIM5_MIN_FACTOR:g}"
    return stat


def claim_sample_complexity(trials: pd.DataFrame, seed: int = 0) -> B.ClaimResult:
    """(5) Sec. 3.6, Fig. 7 top: geometric-mean N factor at equal test error of regular adversarial
    training vs normal, per architecture, with its interval over seeds; every architecture decides."""
    if not L.has_columns(trials, L.TEST_ERROR, L.N, L.STRATEGY):
        return B.result("5", TITLE5, [], FALSIFIER5, "needs test error, N and strategy")
    adversarial = sorted(L.strategies_of_family(trials, L.REGULAR), key=lambda s: (s != L.ADVERSARIAL, s))
    if not adversarial or B.REFERENCE_STRATEGY not in set(trials[L.STRATEGY]):
        return B.result("5", TITLE5, [], FALSIFIER5, "needs normal and regular adversarial training")
    strategy = adversarial[0]
    stats: list[B.Statistic] = []
    notes: list[str] = []
    groups = trials.groupby(L.ARCH) if L.ARCH in trials.columns and trials[L.ARCH].notna().any() else [("all", trials)]
    for arch, g in groups:
        f = data_factors(g, strategy)
        name = f"N factor {strategy} / normal at equal test error [{arch}]"
        if f.empty:
            stats.append(B.undefined(name, f"interval > {T.CLAIM5_MIN_FACTOR:g}"))
            notes.append(f"{arch}: normal training needs >= 2 N per seed and {strategy} trials of the same seed")
            continue
        used, dropped = informative(f)
        bounded = int((used["read"] != "inside").sum())
        if used.empty:
            stats.append(B.undefined(name, f"interval > {T.CLAIM5_MIN_FACTOR:g}"))
        else:
            stats.append(factor_statistic(f"{name} ({len(used)} (seed, N) points)", used))
        for n, h in used.groupby(L.N):
            stats.append(B.Statistic(f"N factor at N={int(n)} [{arch}] (over {len(h)} seeds)", S.geometric_mean(h["factor"])))
        if bounded or dropped:
            notes.append(f"{arch}: of {len(f)} (seed, N) points, {bounded + dropped} lie beyond normal training's N range: "
                         f"{bounded} counted as bounds at the nearest end, {dropped} dropped (a bound on the wrong side "
                         f"of {T.CLAIM5_MIN_FACTOR:g} says nothing)")
    return B.result("5", TITLE5, stats, FALSIFIER5, "; ".join(notes))
