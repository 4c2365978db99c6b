"""Fig. 5, drawn from a sweep's tables: `python analysis/fig_onmanifold.py RESULTS_DIR [--out DIR]`.

A runnable script; the figure's code is raysweep.analysis.fig_onmanifold (installed with raysweep).
"""
import sys

from raysweep.analysis import fig_onmanifold, plotting

if __name__ == "__main__":
    sys.exit(plotting.standalone(fig_onmanifold.draw))
