"""Shared drawing helpers for the figure scripts: mean +- std over seeds per strategy, stable
colours per strategy, one PNG per figure, and the standalone `python -m raysweep.analysis.fig_x DIR` entry.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import matplotlib

matplotlib.use("Agg")  # files only, never a display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from raysweep.analysis import load as L  # noqa: E402
from raysweep._core.errors import UserError  # noqa: E402

# Stable colours so a strategy looks the same in every figure (registry order of the issue).
KNOWN_STRATEGIES = (
    "normal", "augment", "adversarial", "random_image", "onmanifold_true", "onmanifold_class",
    "onmanifold_data", "random_latent", "transform_adversarial", "combined",
)
DPI = 120


@dataclass
class FigureOutcome:
    """What a figure script did: the PNG it wrote, or why it skipped."""

    name: str
    path: Optional[Path] = None
    note: str = ""


_OTHER: dict[str, int] = {}  # labels no registry names (adversarial_it40): colours in first-seen order


def color(strategy: str) -> str:
    """A registered strategy's own tab10 colour; any other label (a spec's `label:`) the next of
    Dark2's eight, so two variants of one strategy in one figure never share a colour (a hash
    of the name did: adversarial_it40 came out as random_image's red)."""
    if strategy in KNOWN_STRATEGIES:
        return plt.get_cmap("tab10")(KNOWN_STRATEGIES.index(strategy))
    return plt.get_cmap("Dark2")(_OTHER.setdefault(strategy, len(_OTHER)) % 8)


def rate_label(attack: str) -> str:
    return f"{attack} success rate (per attempt)"


def _rate_axis(ax, value: str) -> None:
    """Success rates on a fixed [0, 1] axis, so a flat 0.9 does not look like a trend."""
    if ".success_rate_" in value:
        ax.set_ylim(-0.02, 1.02)


def lines_vs_n(ax, trials: pd.DataFrame, value: str, ylabel: str, strategies: Optional[list[str]] = None) -> bool:
    """Mean +- std over seeds of `value` against N, one line per strategy; False if nothing drawn."""
    if not L.has_columns(trials, value, L.N, L.STRATEGY):
        return False
    stats = L.mean_std_by_n(trials, value)
    drawn = False
    for strategy in strategies or L.strategies_in(trials):
        s = stats[stats[L.STRATEGY] == strategy]
        if s.empty:
            continue
        ax.errorbar(s[L.N], s["mean"], yerr=s["std"], marker="o", capsize=3, label=strategy, color=color(strategy))
        drawn = True
    if stats[L.N].nunique() > 1 and stats[L.N].min() > 0:
        ax.set_xscale("log")
        ticks = sorted(stats[L.N].unique())
        ax.set_xticks(ticks, [str(int(t)) for t in ticks])  # the grid's N, not 2x10^3 labels
        ax.minorticks_off()
    ax.set_xlabel("training images N")
    ax.set_ylabel(ylabel)
    _rate_axis(ax, value)
    ax.grid(alpha=0.3)
    return drawn


def points_vs_test_error(ax, trials: pd.DataFrame, value: str, ylabel: str,
                         strategies: Optional[list[str]] = None) -> bool:
    """`value` against test error, one point per (strategy, N) at the seed means, +- std both ways."""
    if not L.has_columns(trials, value, L.TEST_ERROR, L.N, L.STRATEGY):
        return False
    te = L.mean_std_by_n(trials, L.TEST_ERROR)
    va = L.mean_std_by_n(trials, value)
    both = te.merge(va, on=[L.STRATEGY, L.N], suffixes=("_te", "_v"))
    drawn = False
    for strategy in strategies or L.strategies_in(trials):
        s = both[both[L.STRATEGY] == strategy].sort_values(L.N)
        if s.empty:
            continue
        ax.errorbar(s["mean_te"], s["mean_v"], xerr=s["std_te"], yerr=s["std_v"], marker="o", capsize=3,
                    linestyle=":", label=strategy, color=color(strategy))
        drawn = True
    ax.set_xlabel("test error")
    ax.set_ylabel(ylabel)
    _rate_axis(ax, value)
    ax.grid(alpha=0.3)
    return drawn


def success_panels(ax_n, ax_error, trials: pd.DataFrame, attack: str) -> None:
    """The pair every robustness figure draws: an attack's success rate against N and against
    test error, per strategy (Fig. 5 and 6 of the paper)."""
    col, label = L.success_col(attack), rate_label(attack)
    lines_vs_n(ax_n, trials, col, label)
    ax_n.set_title(f"{attack}: success vs N")
    points_vs_test_error(ax_error, trials, col, label)
    ax_error.set_title(f"{attack}: success vs test error")


def save(fig, out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def legend_once(fig, axes) -> None:
    """One legend for the figure, from the panel with the most labelled lines."""
    best = max(axes, key=lambda a: len(a.get_legend_handles_labels()[1]))
    handles, labels = best.get_legend_handles_labels()
    if labels:
        best.legend(handles, labels, fontsize="small")


def standalone(draw: Callable[[L.Tables, Path], FigureOutcome], argv: Optional[list[str]] = None) -> int:
    """Entry of `python -m raysweep.analysis.fig_x RESULTS_DIR [--out DIR]`: draw one figure, say where."""
    parser = argparse.ArgumentParser(description=(draw.__doc__ or "").strip().splitlines()[0])
    parser.add_argument("results_dir", help="<storage>/<sweep> of a finished sweep, or its tables folder")
    parser.add_argument("--out", default=None, help="output folder (default: <results_dir>/analysis)")
    args = parser.parse_args(argv)
    try:
        tables = L.load_tables(args.results_dir)
        out = Path(args.out) if args.out else tables.output_dir()
        outcome = draw(tables, out)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(outcome.path if outcome.path else f"skipped {outcome.name}: {outcome.note}")
    return 0
