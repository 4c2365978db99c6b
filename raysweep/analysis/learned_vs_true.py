"""How well a learned manifold stands in for the true one (FONTS knows its true manifold).

On real data the paper's on-manifold claims rest on learned class manifolds (per-class VAE-GANs,
Sec. 3.1 and 3.3). On FONTS both exist, so per trial the learned attack's success can be held
against the true attack's: if the learned manifold is a stand-in, the two rise and fall together
over the grid (Pearson r across all trials), and each tracks test error over normally trained
models (claim 3's relation, Sec. 3.3). Target for a working learned manifold: r(learned, true)
>= 0.9 across the demo grid.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from raysweep.analysis import load as L
from raysweep.analysis import manifold_kinds as MK
from raysweep.analysis import stats as S

TARGET_R = 0.9  # r(learned success, true success) across the grid for a stand-in


@dataclass(frozen=True)
class Comparison:
    """One learned attack against the true one, over the trials that ran both."""

    learned: str  # attack label of the learned manifold's attack
    true: str  # attack label of the true manifold's attack
    manifold: str  # learned-class or learned-data
    trials: int
    r_learned_true: float  # across every trial (all strategies and N)
    r_learned_error: float  # over normally trained models
    r_true_error: float  # the same for the true attack: what the learned one should match
    normal_trials: int


def attacks_by_manifold(trials: pd.DataFrame) -> dict[str, list[str]]:
    """On-manifold attack labels per manifold (true, learned-class, learned-data)."""
    return MK.group(L.attacks_in(trials, L.ONMANIFOLD), lambda key: MK.of_attack(trials, key))


def compare(trials: pd.DataFrame) -> list[Comparison]:
    """Each learned on-manifold attack against the sweep's true on-manifold attack."""
    by = attacks_by_manifold(trials)
    if MK.TRUE not in by:
        return []
    true = by[MK.TRUE][0]
    out = []
    for manifold in MK.LEARNED:
        for learned in by.get(manifold, []):
            cols = [L.success_col(learned), L.success_col(true)]
            both = trials.dropna(subset=cols)
            normal = both[both[L.STRATEGY] == L.NORMAL].dropna(subset=[L.TEST_ERROR])
            out.append(Comparison(
                learned, true, manifold, len(both),
                S.pearson(both[cols[0]].to_numpy(), both[cols[1]].to_numpy()),
                S.pearson(normal[cols[0]].to_numpy(), normal[L.TEST_ERROR].to_numpy()),
                S.pearson(normal[cols[1]].to_numpy(), normal[L.TEST_ERROR].to_numpy()), len(normal)))
    return out


def per_trial(trials: pd.DataFrame, c: Comparison) -> pd.DataFrame:
    """The trials behind a comparison: strategy, N, seed, test error, both success rates."""
    cols = [L.STRATEGY, L.N, L.SEED, L.TEST_ERROR, L.success_col(c.learned), L.success_col(c.true)]
    return trials[[col for col in cols if col in trials.columns]].dropna().sort_values([L.STRATEGY, L.N, L.SEED])


def r_text(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.2f}"


def section(trials: pd.DataFrame) -> list[str]:
    """`## Learned vs true manifold` for the report; nothing when a sweep lacks either attack."""
    comparisons = compare(trials)
    if not comparisons:
        return []
    lines = ["## Learned vs true manifold", "",
             f"Each learned on-manifold attack against the true one on the same trials. A learned manifold "
             f"stands in for the true one when their success rates move together across the grid "
             f"(r >= {TARGET_R:g}) and both track test error over normally trained models (claim 3).", "",
             "| learned attack | manifold | trials | r(learned, true) | r(learned, test error), normal | "
             "r(true, test error), normal | stands in |", "|---|---|---|---|---|---|---|"]
    for c in comparisons:
        ok = "yes" if np.isfinite(c.r_learned_true) and c.r_learned_true >= TARGET_R else "no"
        lines.append(f"| {c.learned} | {c.manifold} | {c.trials} | {r_text(c.r_learned_true)} | "
                     f"{r_text(c.r_learned_error)} ({c.normal_trials}) | {r_text(c.r_true_error)} | {ok} |")
    return lines + [""]
