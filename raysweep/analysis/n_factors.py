"""The N factor of every training strategy against normal training, and what the inner attack
of adversarial training did per epoch: the tables claim 5's controls are read from.

Claim 5 (Sec. 3.6, Fig. 7 top): adversarial training needs about 1.5-2x the data of normal
training for the same test error. The claim itself (claims_training.claim_sample_complexity)
reads one regular strategy; a study of *why* the factor comes out as it does compares several
(adversarial at 10 and 40 inner iterations, the random-noise baseline, ...), each with the same
per-seed isotonic inversion and t-interval over seeds, so their factors are comparable.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from raysweep.analysis import claims_base as B
from raysweep.analysis import claims_training as CT
from raysweep.analysis import load as L
from raysweep.analysis import stats as S
from raysweep.results.schema import PERTURBED_COLUMNS

FACTOR_COLUMNS = ["arch", "strategy", "factor", "low", "high", "seeds", "points", "per_n"]


def factor_table(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per (arch, strategy other than normal): the geometric-mean N factor at equal test
    error with its interval over seeds (claims_training.factor_statistic), the (seed, N) points
    it used and the factor per N ("N=250: 0.79; ..."). Below 1: the strategy reaches normal
    training's test error with less data."""
    rows = []
    groups = trials.groupby(L.ARCH) if L.ARCH in trials.columns and trials[L.ARCH].notna().any() else [("all", trials)]
    for arch, g in groups:
        for strategy in [s for s in L.strategies_in(g) if s != B.REFERENCE_STRATEGY]:
            used, _ = CT.informative(CT.data_factors(g, strategy))
            if used.empty:
                continue
            stat = CT.factor_statistic(strategy, used)
            low, high = stat.interval if stat.interval is not None else (np.nan, np.nan)
            per_n = "; ".join(f"N={int(n)}: {S.geometric_mean(h['factor']):.2f}" for n, h in used.groupby(L.N))
            rows.append({"arch": arch, "strategy": strategy, "factor": stat.value, "low": low, "high": high,
                         "seeds": int(used[L.SEED].nunique()), "points": len(used), "per_n": per_n})
    return pd.DataFrame(rows, columns=FACTOR_COLUMNS)


def perturbed_table(epochs: pd.DataFrame) -> pd.DataFrame:
    """Per (strategy, N, epoch): the mean over trials of the epochs table's adv_* columns (the
    perturbed half at the random start and at the kept iterate). Strategies without a perturbed
    half (normal) have no rows."""
    cols = [c for c in PERTURBED_COLUMNS if c in epochs.columns]
    if not cols or epochs.empty:
        return pd.DataFrame(columns=[L.STRATEGY, L.N, "epoch", *PERTURBED_COLUMNS])
    rows = epochs.dropna(subset=["adv_success"]) if "adv_success" in cols else epochs.iloc[0:0]
    return rows.groupby([L.STRATEGY, L.N, "epoch"])[cols].mean().reset_index()


def first_and_last_epoch(perturbed: pd.DataFrame) -> pd.DataFrame:
    """perturbed_table's rows at each (strategy, N)'s first and last epoch: how the inner attack
    fares on a fresh model and on the trained one."""
    if perturbed.empty:
        return perturbed
    ends = perturbed.groupby([L.STRATEGY, L.N])["epoch"].agg(["min", "max"]).reset_index()
    keep = perturbed.merge(ends, on=[L.STRATEGY, L.N])
    keep = keep[(keep["epoch"] == keep["min"]) | (keep["epoch"] == keep["max"])]
    return keep.drop(columns=["min", "max"]).reset_index(drop=True)


def markdown(df: pd.DataFrame, digits: int = 3) -> str:
    """A frame as a GitHub table (floats to `digits`), for notes and the README."""
    def cell(v: object) -> str:
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)
