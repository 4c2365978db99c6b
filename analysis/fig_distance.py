"""Fig. 3, drawn from a sweep's tables: `python analysis/fig_distance.py RESULTS_DIR [--out DIR]`.

A runnable script; the figure's code is raysweep.analysis.fig_distance (installed with raysweep).
"""
import sys

from raysweep.analysis import fig_distance, plotting

if __name__ == "__main__":
    sys.exit(plotting.standalone(fig_distance.draw))
