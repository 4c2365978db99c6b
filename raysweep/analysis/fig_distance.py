"""Fig. 3: distance of adversarial examples to the manifold, regular vs on-manifold (Sec. 4.1).

Normalised histograms of ||x_adv - pi(x_adv)||_2, relative to ||delta||_2 (left; ~1 means the
example left the manifold almost orthogonally) and absolute (right), one row per distance method
(true projection on FONTS, kNN subspace otherwise). Only successful attempts on correctly
classified, valid samples of normally trained models count (all models when no normal training
is in the tables), as in the paper. Usage: python -m raysweep.analysis.fig_distance DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from raysweep.analysis import plotting as P
from raysweep.analysis import load as L

NAME = "fig3_distance"
BINS = 30
KINDS = {"regular": L.REGULAR, "on-manifold": L.ONMANIFOLD}


def _attacks(tables: L.Tables) -> dict[str, str]:
    """Attack key -> "regular" / "on-manifold" for the attacks in the example table."""
    return {k: kind for kind, family in KINDS.items()
            for k in L.example_attacks_in(tables.examples, tables.trials, family)}


def _panel(ax, examples, attacks: dict[str, str], distance: str, relative: bool) -> bool:
    series = {a: L.distance_values(examples, a, distance, relative) for a in attacks}
    series = {a: v for a, v in series.items() if len(v)}
    if not series:
        ax.axis("off")
        ax.text(0.5, 0.5, f"no {distance} distances measured", ha="center", va="center")
        return False
    everything = np.concatenate(list(series.values()))
    hi = max(float(np.quantile(everything, 0.995)), 1.05 if relative else 1e-6)
    bins = np.linspace(0.0, hi, BINS + 1)
    for attack, values in series.items():
        ax.hist(np.clip(values, 0, hi), bins=bins, density=True, histtype="step", linewidth=1.8,
                linestyle="-" if attacks[attack] == "regular" else "--",
                label=f"{attack} ({attacks[attack]}, n={len(values)}, median {np.median(values):.2f})")
    what = "||x_adv - pi(x_adv)||_2 / ||delta||_2" if relative else "||x_adv - pi(x_adv)||_2"
    ax.set_xlabel(f"{what} [{distance}]")
    ax.set_ylabel("density")
    ax.legend(fontsize="x-small")
    ax.grid(alpha=0.3)
    return True


def draw(tables: L.Tables, out_dir: Path) -> P.FigureOutcome:
    """Fig. 3: histograms of the distance to the manifold, regular vs on-manifold examples."""
    examples, which = tables.examples, "all strategies"
    if L.STRATEGY in examples.columns and (examples[L.STRATEGY] == L.NORMAL).any():
        examples, which = examples[examples[L.STRATEGY] == L.NORMAL], "normal training"  # as the paper
    distances = L.distances_in(examples)
    if not distances:
        return P.FigureOutcome(NAME, note="the example table has no dist_<method> column with values")
    fig, axes = plt.subplots(len(distances), 2, figsize=(11, 3.8 * len(distances)), squeeze=False)
    attacks = _attacks(tables)
    drawn = False
    for row, distance in zip(axes, distances):
        drawn |= _panel(row[0], examples, attacks, distance, relative=True)
        drawn |= _panel(row[1], examples, attacks, distance, relative=False)
    if not drawn:
        plt.close(fig)
        return P.FigureOutcome(NAME, note="no successful attacked examples with a measured distance")
    fig.suptitle(f"Fig. 3: distance of adversarial examples to the manifold ({which})")
    return P.FigureOutcome(NAME, P.save(fig, out_dir, NAME))


if __name__ == "__main__":
    sys.exit(P.standalone(draw))
