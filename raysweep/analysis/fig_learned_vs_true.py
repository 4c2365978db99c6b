"""Learned vs true manifold (FONTS): does the learned on-manifold attack stand in for the true one?

Left: per trial, the learned attack's success against the true attack's (one colour per
strategy, the diagonal for reference; r in the title). Right: both against test error over
normally trained models, the relation claim 3 rests on (Sec. 3.3, Fig. 5): a learned manifold
that works draws the same rising line as the true one. Usage:
python -m raysweep.analysis.fig_learned_vs_true DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt

from raysweep.analysis import plotting as P
from raysweep.analysis import learned_vs_true as LT
from raysweep.analysis import load as L

NAME = "learned_vs_true"


def draw(tables: L.Tables, out_dir: Path) -> P.FigureOutcome:
    """Learned vs true manifold: success per trial, and both against test error."""
    comparisons = LT.compare(tables.trials)
    if not comparisons:
        return P.FigureOutcome(NAME, note="needs a true and a learned on-manifold attack in one sweep (FONTS)")
    c = comparisons[0]
    rows = LT.per_trial(tables.trials, c)
    learned, true = L.success_col(c.learned), L.success_col(c.true)
    fig, (ax, ax_err) = plt.subplots(1, 2, figsize=(11, 4.4))
    for strategy, g in rows.groupby(L.STRATEGY):
        ax.scatter(g[true], g[learned], s=18, color=P.color(strategy), label=strategy)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"{c.true} success (true manifold)")
    ax.set_ylabel(f"{c.learned} success ({c.manifold})")
    ax.set_title(f"per trial: r = {LT.r_text(c.r_learned_true)} over {c.trials} trials", fontsize="small")
    ax.legend(fontsize="x-small")
    ax.grid(alpha=0.3)
    normal = rows[rows[L.STRATEGY] == L.NORMAL]
    for col, label, marker in ((true, f"{c.true} (r {LT.r_text(c.r_true_error)})", "o"),
                               (learned, f"{c.learned} (r {LT.r_text(c.r_learned_error)})", "s")):
        ax_err.scatter(normal[L.TEST_ERROR], normal[col], marker=marker, s=22, label=label)
    ax_err.set_ylim(-0.02, 1.02)
    ax_err.set_xlabel("test error (normal training)")
    ax_err.set_ylabel("on-manifold success")
    ax_err.legend(fontsize="small")
    ax_err.grid(alpha=0.3)
    fig.suptitle("Learned vs true manifold: does the learned attack stand in for the true one?")
    return P.FigureOutcome(NAME, P.save(fig, out_dir, NAME))


if __name__ == "__main__":
    sys.exit(P.standalone(draw))
