"""Fig. 2, drawn from a sweep's tables: `python analysis/fig_samples.py RESULTS_DIR [--out DIR]`.

A runnable script; the figure's code is raysweep.analysis.fig_samples (installed with raysweep).
"""
import sys

from raysweep.analysis import fig_samples, plotting

if __name__ == "__main__":
    sys.exit(plotting.standalone(fig_samples.draw))
