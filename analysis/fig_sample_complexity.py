"""Fig. 7, drawn from a sweep's tables: `python analysis/fig_sample_complexity.py RESULTS_DIR [--out DIR]`.

A runnable script; the figure's code is raysweep.analysis.fig_sample_complexity (installed with raysweep).
"""
import sys

from raysweep.analysis import fig_sample_complexity, plotting

if __name__ == "__main__":
    sys.exit(plotting.standalone(fig_sample_complexity.draw))
