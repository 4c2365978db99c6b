"""Fig. 5: on-manifold robustness is generalization (Sec. 4.3).

Left: test error against N per training strategy. Middle: on-manifold success rate against N.
Right: on-manifold success rate against test error, one point per (strategy, N). One row per
on-manifold attack in the tables (true manifold, class-specific or class-agnostic VAE-GAN).
Mean +- std over seeds. Usage: python -m raysweep.analysis.fig_onmanifold DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt

from raysweep.analysis import plotting as P
from raysweep.analysis import load as L

NAME = "fig5_onmanifold"


def draw(tables: L.Tables, out_dir: Path) -> P.FigureOutcome:
    """Fig. 5: test error and on-manifold success rate against N; success against test error."""
    trials = tables.trials
    attacks = L.attacks_in(trials, L.ONMANIFOLD)
    if not attacks or not L.has_columns(trials, L.TEST_ERROR, L.N):
        return P.FigureOutcome(NAME, note="needs test_error, n and an on-manifold attack's success rate")
    fig, axes = plt.subplots(len(attacks), 3, figsize=(15, 4.2 * len(attacks)), squeeze=False)
    P.lines_vs_n(axes[0][0], trials, L.TEST_ERROR, "test error")
    axes[0][0].set_title("test error")
    for row, attack in zip(axes, attacks):
        P.success_panels(row[1], row[2], trials, attack)
    for row in axes[1:]:
        row[0].axis("off")  # test error does not depend on the attack: drawn once
    P.legend_once(fig, [ax for row in axes for ax in row])
    fig.suptitle("Fig. 5: on-manifold robustness and generalization (mean +- std over seeds)")
    return P.FigureOutcome(NAME, P.save(fig, out_dir, NAME))


if __name__ == "__main__":
    sys.exit(P.standalone(draw))
