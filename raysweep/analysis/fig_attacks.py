"""Attack variants of Fig. 6 (supplement): L2, Carlini-Wagner, transfer, transformation, random
L-inf noise and labelled variants of an attack, whichever are in the tables.

One row per attack: success rate against N, success rate against test error, and the mean L2
norm of successful perturbations against N (for CW, which almost always succeeds, the norm is
the robustness measure). Mean +- std over seeds. Usage: python -m raysweep.analysis.fig_attacks DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt

from raysweep.analysis import plotting as P
from raysweep.analysis import load as L

NAME = "fig_attacks"
FAMILIES = (L.REGULAR, L.TRANSFORMATION, L.BASELINE)


def variant_attacks(trials) -> list[str]:
    """Every regular or other attack key except the one Fig. 6 draws (on-manifold ones are Fig. 5's)."""
    keys = [k for family in FAMILIES for k in L.attacks_in(trials, family)]
    fig6 = L.attacks_in(trials, L.REGULAR)[:1]
    return [k for k in keys if k not in fig6]


def draw(tables: L.Tables, out_dir: Path) -> P.FigureOutcome:
    """Attack variants: success rate against N and test error, mean L2 norm against N."""
    trials = tables.trials
    attacks = variant_attacks(trials)
    if not attacks or not L.has_columns(trials, L.TEST_ERROR, L.N):
        return P.FigureOutcome(NAME, note="no attack besides Fig. 6's regular and Fig. 5's on-manifold ones")
    fig, axes = plt.subplots(len(attacks), 3, figsize=(15, 4.0 * len(attacks)), squeeze=False)
    for row, attack in zip(axes, attacks):
        P.success_panels(row[0], row[1], trials, attack)
        if not P.lines_vs_n(row[2], trials, L.mean_norm_col(attack, "l2"), f"{attack} mean L2 of successes"):
            row[2].axis("off")
        else:
            row[2].set_title(f"{attack}: perturbation size vs N")
    P.legend_once(fig, [ax for row in axes for ax in row])
    fig.suptitle("Attack variants (mean +- std over seeds)")
    return P.FigureOutcome(NAME, P.save(fig, out_dir, NAME))


if __name__ == "__main__":
    sys.exit(P.standalone(draw))
