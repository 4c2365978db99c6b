"""Claim 3 (Sec. 3.4, Fig. 5 bottom): on-manifold robustness is essentially generalization.

On normally trained models alone, N and test error move together: on-manifold success that
follows N (or anything else that falls with N) would look like it follows test error. Fig. 5
puts every strategy's models on one curve, and on-manifold adversarial training lowers test
error at a fixed N (Sec. 3.4.1), so the claim is decided over every strategy's trials with N in
the model: per seed, the least-squares fit success ~ 1 + test error + log N; the test-error
coefficient says how success moves with test error at a fixed N. Its mean over seeds, with the
t-interval over seeds (stats.t_interval), must lie above CLAIM3_MIN_SLOPE; a table where success
follows N only has a coefficient near 0 and does not hold. With one strategy the coefficient
cannot be told from N's (one trial per N and seed): inconclusive. Pearson r over all trials must
still show a strong relation. Decided once per manifold (manifold_kinds.py).
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

TITLE3 = "On-manifold robustness is essentially generalization"
FALSIFIER3 = (f"fails if the interval of the test-error coefficient of on-manifold success ~ test error + log N "
              f"(every strategy's trials, per seed) reaches {T.CLAIM3_MIN_SLOPE:g} or below, "
              f"or Pearson r < {T.CLAIM3_MIN_PEARSON:g}")


def attack_groups(trials: pd.DataFrame) -> dict[str, list[str]]:
    """On-manifold attack keys with a success rate, per manifold."""
    keys = L.attacks_in(trials, L.ONMANIFOLD)
    return MK.group(keys, lambda k: MK.of_attack(trials, k))


def frame(trials: pd.DataFrame, col: str) -> pd.DataFrame:
    """Rows with test error, N and the success column (every strategy), as te / log_n / y."""
    keep = [c for c in (L.SEED, L.STRATEGY) if c in trials.columns]
    df = trials[keep].copy()
    df["te"], df["log_n"], df["y"] = trials[L.TEST_ERROR], np.log(trials[L.N].astype(float)), trials[col]
    return df.dropna(subset=["te", "log_n", "y"]).reset_index(drop=True)


def coefficient(df: pd.DataFrame, which: int = 1) -> float:
    """One seed's coefficient of y ~ 1 + te + log_n (1: test error, 2: log N)."""
    return float(S.coefficients(df["y"].to_numpy(), df["te"].to_numpy(), df["log_n"].to_numpy())[which])


def _attack_stats(df: pd.DataFrame, attack: str, decides: bool) -> list[B.Statistic]:
    where = f"[{attack}] ({len(df)} trials, {df[L.STRATEGY].nunique() if L.STRATEGY in df else 1} strategies)"
    coef = B.per_seed(df, coefficient)
    name = f"test-error coefficient of success ~ test error + log N {where}"
    r = S.pearson(df["te"], df["y"])
    first = B.seed_check(name, coef, "ci>", T.CLAIM3_MIN_SLOPE) if decides else B.seed_stat(name, coef)
    if decides and (df[L.STRATEGY].nunique() if L.STRATEGY in df else 1) < 2:
        # one strategy: within a seed each N has one trial, so test error is a function of N
        first.blocker = "one training strategy: test error does not vary at a fixed N, so N is not controlled"
    stats = [first,
             B.check(f"Pearson r [{attack}]", r, None, ">=", T.CLAIM3_MIN_PEARSON) if decides
             else B.Statistic(f"Pearson r [{attack}]", r)]
    stats.append(B.seed_stat(f"log N coefficient [{attack}]", B.per_seed(df, lambda g: coefficient(g, 2))))
    stats.append(B.Statistic(f"Spearman r [{attack}]", S.spearman(df["te"], df["y"])))
    return stats


def claim_onmanifold_generalization(trials: pd.DataFrame, seed: int = 0, manifold: Optional[str] = None) -> B.ClaimResult:
    """(3) Sec. 3.4, Fig. 5 bottom: on one manifold (None: the first measured), the test-error
    coefficient of on-manifold success ~ test error + log N over every strategy's trials, per
    seed, with its t-interval over seeds, and Pearson r; the manifold's first attack decides.
    `seed` is unused (no resampling) and kept for a uniform call."""
    manifold, attacks = MK.pick(attack_groups(trials), manifold)
    if not attacks or not L.has_columns(trials, L.TEST_ERROR, L.N):
        return B.result("3", TITLE3, [], FALSIFIER3, "needs test error, N and an on-manifold success rate",
                        manifold=manifold)
    stats: list[B.Statistic] = []
    note = ""
    for i, attack in enumerate(attacks):
        df = frame(trials, L.success_col(attack))
        if len(df) < T.MIN_TRIALS_FOR_SLOPE:
            if i == 0:
                note = f"only {len(df)} trials (need {T.MIN_TRIALS_FOR_SLOPE}) for {attack}"
                stats.append(B.undefined(f"test-error coefficient [{attack}]", f"interval > {T.CLAIM3_MIN_SLOPE:g}"))
            continue
        stats += _attack_stats(df, attack, decides=i == 0)
    return B.result("3", TITLE3, stats, FALSIFIER3, note, manifold=manifold)
