"""Claim 5's controls in one figure (Sec. 3.6, Fig. 7 top): why a strategy needs more or less data.

Left: test error against N for every strategy (normal, adversarial at several inner iterations,
the random-noise baseline), annotated with each strategy's N factor at equal test error (below 1:
less data than normal training; n_factors.factor_table). Middle: the L-inf attack's success
against N, the control that adversarial training took and random noise did not. Right: per epoch,
the perturbed half's success at the random start (dashed) and at the kept iterate (solid), at
the largest N: where the lines meet, the inner attack adds nothing to its start.
Usage: python -m raysweep.analysis.fig_claim5_controls DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt

from raysweep.analysis import plotting as P
from raysweep.analysis import load as L
from raysweep.analysis import n_factors as NF
from raysweep.analysis.fig_learning_curves import epochs_of

NAME = "claim5_controls"


def draw(tables: L.Tables, out_dir: Path) -> P.FigureOutcome:
    """Claim 5 controls: test error, L-inf success and the inner attack's progress per strategy."""
    trials = tables.trials
    if L.NORMAL not in L.strategies_in(trials) or not L.has_columns(trials, L.TEST_ERROR, L.N):
        return P.FigureOutcome(NAME, note="needs test_error of normal training and another strategy")
    fig, (ax_err, ax_linf, ax_epoch) = plt.subplots(1, 3, figsize=(16, 4.4))
    P.lines_vs_n(ax_err, trials, L.TEST_ERROR, "test error")
    factors = NF.factor_table(trials)
    ax_err.set_title("N factor vs normal: " + ", ".join(f"{r.strategy} {r.factor:.2f}" for r in factors.itertuples())
                     if len(factors) else "test error", fontsize="small")
    ax_err.legend(fontsize="small")
    regular = L.attacks_in(trials, L.REGULAR)
    if regular:
        P.lines_vs_n(ax_linf, trials, L.success_col(regular[0]), P.rate_label(regular[0]))
        ax_linf.set_title(f"{regular[0]} on the test set: did the training buy robustness?", fontsize="small")
    perturbed = NF.perturbed_table(epochs_of(tables))
    if not perturbed.empty:
        top = perturbed[perturbed[L.N] == perturbed[L.N].max()]
        for strategy, g in top.groupby(L.STRATEGY):
            ax_epoch.plot(g["epoch"], g["adv_success"], color=P.color(strategy), label=f"{strategy} kept iterate")
            ax_epoch.plot(g["epoch"], g["adv_start_success"], color=P.color(strategy), ls="--",
                          label=f"{strategy} random start")
        ax_epoch.set_ylim(-0.02, 1.02)
        ax_epoch.set_xlabel("epoch")
        ax_epoch.set_ylabel("perturbed half misclassified (eval mode)")
        ax_epoch.set_title(f"inner attack at N={int(top[L.N].max())}", fontsize="small")
        ax_epoch.legend(fontsize="x-small")
        ax_epoch.grid(alpha=0.3)
    fig.suptitle("Claim 5 controls: sample complexity of adversarial training (mean +- std over seeds)")
    return P.FigureOutcome(NAME, P.save(fig, out_dir, NAME))


if __name__ == "__main__":
    sys.exit(P.standalone(draw))
