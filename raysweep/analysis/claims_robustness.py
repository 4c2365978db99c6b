"""Claim 2 (Sec. 3.3, Fig. 2): on-manifold adversarial examples exist, over normally trained
trials, per manifold: each seed's smallest per-N mean success, with the t-interval over seeds.
(Claim 3: claims_generalization.py; claim 4: claims_regular.py.)
"""
from __future__ import annotations

from typing import Optional

import pandas as pd

from raysweep.analysis import claims_base as B
from raysweep.analysis import load as L
from raysweep.analysis import manifold_kinds as MK
from raysweep.analysis import thresholds as T

TITLE2 = "On-manifold adversarial examples exist"
FALSIFIER2 = f"fails if the interval of the smallest per-N mean on-manifold success reaches {T.CLAIM2_MIN_SUCCESS_RATE:g} or below"


def _onmanifold(ref: pd.DataFrame) -> list[str]:
    return L.attacks_in(ref, L.ONMANIFOLD)


def attack_groups(df: pd.DataFrame) -> dict[str, list[str]]:
    """On-manifold attack keys with a success rate, per manifold (claims 2 and 3 are per manifold)."""
    return MK.group(_onmanifold(df), lambda k: MK.of_attack(df, k))


# --- claim 2 -----------------------------------------------------------------------------------
def _min_over_n(df: pd.DataFrame, col: str) -> float:
    """One seed's smallest per-N mean success."""
    return float(df.groupby(L.N)[col].mean().min()) if len(df) else float("nan")


def claim_onmanifold_exist(trials: pd.DataFrame, seed: int = 0, manifold: Optional[str] = None) -> B.ClaimResult:
    """(2) Sec. 3.3: on-manifold success per N (mean over seeds, normal training) on one manifold
    (None: the first measured); decides on the smallest per-N mean with its interval."""
    ref = B.reference(trials)
    manifold, attacks = MK.pick(attack_groups(ref), manifold)
    if not attacks or not L.has_columns(ref, L.N):
        return B.result("2", TITLE2, [], FALSIFIER2, "no on-manifold success rate for normal training in the trial table",
                        manifold=manifold)
    stats: list[B.Statistic] = []
    for i, attack in enumerate(attacks):
        col = L.success_col(attack)
        per_n = L.mean_std_by_n(ref, col)
        for _, row in per_n.iterrows():
            stats.append(B.Statistic(f"{attack} success at N={int(row[L.N])} (std {row['std']:.3f}, "
                                     f"seeds: {int(row['count'])})", float(row["mean"])))
        df = ref[[L.N, col] + [c for c in (L.SEED, L.TRIAL_ID) if c in ref.columns]].dropna(subset=[col])
        per_seed = B.per_seed(df, lambda g: _min_over_n(g, col))
        name = f"min over N of {attack} success, mean over seeds"
        stats.append(B.seed_check(name, per_seed, "ci>", T.CLAIM2_MIN_SUCCESS_RATE) if i == 0 else B.seed_stat(name, per_seed))
    return B.result("2", TITLE2, stats, FALSIFIER2, manifold=manifold)
