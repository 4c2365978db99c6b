"""Fig. 2, drawn from a sweep's tables: `python analysis/fig_samples.py RESULTS_DIR [--out DIR]`.

A runnable script; the figure's code is raysweep.analysis.fig_samples (installed with raysweep).
"""
import sys

from raysweep.analysis import _plot, fig_samples

if __name__ == "__main__":
    sys.exit(_plot.standalone(fig_samples.draw))
