"""Fig. 7: adversarial training needs more data for the same test error (Sec. 4.4).

Left: test error against N for normal vs (regular) adversarial training, annotated with the data
factor N_adversarial / N_normal at equal test error (the paper finds roughly 1.5-2 on FONTS).
Right, when the combined strategy is in the tables: test error against regular success rate for
adversarial, combined and on-manifold training, the trade-off of Fig. 7 (bottom).
Mean +- std over seeds. Usage: python -m raysweep.analysis.fig_sample_complexity DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt

from raysweep.analysis import plotting as P
from raysweep.analysis import load as L
from raysweep.analysis.claims_training import data_factors

NAME = "fig7_sample_complexity"
TRADEOFF_FAMILIES = (L.NORMAL, L.REGULAR, L.COMBINED, L.ONMANIFOLD)  # strategy families drawn


def draw(tables: L.Tables, out_dir: Path) -> P.FigureOutcome:
    """Fig. 7: test error against N for normal vs adversarial training (sample complexity gap)."""
    trials = tables.trials
    present = set(L.strategies_in(trials))
    if not {L.NORMAL, L.ADVERSARIAL} <= present or not L.has_columns(trials, L.TEST_ERROR, L.N):
        return P.FigureOutcome(NAME, note="needs test_error for both normal and adversarial training")
    regular = L.attacks_in(trials, L.REGULAR)
    tradeoff = L.COMBINED in present and bool(regular)
    fig, axes = plt.subplots(1, 2 if tradeoff else 1, figsize=(11 if tradeoff else 6, 4.2), squeeze=False)
    ax = axes[0][0]
    P.lines_vs_n(ax, trials, L.TEST_ERROR, "test error", [L.NORMAL, L.ADVERSARIAL])
    # the claim's own reading (claims_training.data_factors): per seed, inside normal's range
    f = data_factors(trials, L.ADVERSARIAL)
    factors = f.loc[f["read"] == "inside", "factor"]
    if len(factors):
        ax.set_title(f"data factor at equal test error: {factors.median():.2f}x (median over seeds and N)")
    else:
        ax.set_title("normal vs adversarial training")
    ax.legend(fontsize="small")
    if tradeoff:
        ax2 = axes[0][1]
        col = L.success_col(regular[0])
        shown = [s for family in TRADEOFF_FAMILIES for s in L.strategies_of_family(trials, family)]
        P.points_vs_test_error(ax2, trials, col, P.rate_label(regular[0]), shown)
        ax2.set_title("robustness / generalization trade-off")
        ax2.legend(fontsize="small")
    fig.suptitle("Fig. 7: sample complexity of adversarial training (mean +- std over seeds)")
    return P.FigureOutcome(NAME, P.save(fig, out_dir, NAME))


if __name__ == "__main__":
    sys.exit(P.standalone(draw))
