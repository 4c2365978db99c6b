"""Learning curves, drawn from a sweep's epochs table: `python analysis/fig_learning_curves.py RESULTS_DIR [--out DIR]`.

A runnable script; the figure's code is raysweep.analysis.fig_learning_curves (installed with raysweep).
"""
import sys

from raysweep.analysis import fig_learning_curves, plotting

if __name__ == "__main__":
    sys.exit(plotting.standalone(fig_learning_curves.draw))
