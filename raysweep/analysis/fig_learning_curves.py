"""Learning curves from the epochs table (one row per trial and epoch, raysweep.training.epoch_log):
training loss and the test error on the fixed test sample against the epoch, one line per
strategy (mean over its trials, shaded +- std). Trials that resumed keep their earlier epochs.
Usage: python -m raysweep.analysis.fig_learning_curves DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from raysweep._core import storage
from raysweep.analysis import plotting as P
from raysweep.analysis import load as L
from raysweep.results import reader

NAME = "learning_curves"
PANELS = (("train_loss", "training loss"), ("test_error", "test error (fixed test sample)"))


def epochs_of(tables: L.Tables) -> pd.DataFrame:
    """The epochs table of the trials being analysed (empty for sweeps run before it existed)."""
    where = reader.tables_dir(tables.root)
    if not storage.is_dir(where / "epochs"):
        return pd.DataFrame()
    epochs = reader.read_kind(where, "epochs").to_pandas()
    return epochs[epochs[L.TRIAL_ID].isin(tables.trials[L.TRIAL_ID])] if not epochs.empty else epochs


def draw(tables: L.Tables, out_dir: Path) -> P.FigureOutcome:
    """Learning curves: training loss and sample test error per epoch and strategy."""
    epochs = epochs_of(tables)
    if epochs.empty:
        return P.FigureOutcome(NAME, note="no epochs table (a sweep from before it existed, or evaluate-only)")
    fig, axes = plt.subplots(1, len(PANELS), figsize=(11, 4.0))
    for ax, (col, label) in zip(axes, PANELS):
        stats = epochs.groupby([L.STRATEGY, "epoch"])[col].agg(["mean", "std"]).reset_index()
        for strategy, part in stats.groupby(L.STRATEGY):
            ax.plot(part["epoch"], part["mean"], marker="o", ms=3, color=P.color(strategy), label=strategy)
            ax.fill_between(part["epoch"], part["mean"] - part["std"].fillna(0), part["mean"] + part["std"].fillna(0),
                            color=P.color(strategy), alpha=0.15)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
    axes[0].legend(fontsize="small")
    return P.FigureOutcome(NAME, P.save(fig, out_dir, NAME))


if __name__ == "__main__":
    sys.exit(P.standalone(draw))
