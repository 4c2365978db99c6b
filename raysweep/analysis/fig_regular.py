"""Fig. 6: regular robustness is not related to generalization (Sec. 4.4).

Left: regular (L-inf) success rate against N per training strategy. Right: success rate against
test error, one point per (strategy, N): flat lines mean robustness does not follow
generalization. Mean +- std over seeds. Falls back to the L2 or CW attack when L-inf is absent;
the other regular attacks are drawn by fig_attacks. Usage: python -m raysweep.analysis.fig_regular DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt

from raysweep.analysis import plotting as P
from raysweep.analysis import load as L

NAME = "fig6_regular"


def draw(tables: L.Tables, out_dir: Path) -> P.FigureOutcome:
    """Fig. 6: regular success rate against N and against test error per strategy."""
    trials = tables.trials
    attacks = L.attacks_in(trials, L.REGULAR)
    if not attacks or not L.has_columns(trials, L.TEST_ERROR, L.N):
        return P.FigureOutcome(NAME, note="needs test_error, n and a regular attack's success rate")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    P.success_panels(axes[0], axes[1], trials, attacks[0])
    P.legend_once(fig, axes)
    fig.suptitle("Fig. 6: regular robustness and generalization (mean +- std over seeds)")
    return P.FigureOutcome(NAME, P.save(fig, out_dir, NAME))


if __name__ == "__main__":
    sys.exit(P.standalone(draw))
