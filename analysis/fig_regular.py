"""Fig. 6, drawn from a sweep's tables: `python analysis/fig_regular.py RESULTS_DIR [--out DIR]`.

A runnable script; the figure's code is raysweep.analysis.fig_regular (installed with raysweep).
"""
import sys

from raysweep.analysis import fig_regular, plotting

if __name__ == "__main__":
    sys.exit(plotting.standalone(fig_regular.draw))
