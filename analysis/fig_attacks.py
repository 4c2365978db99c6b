"""Attack variants of Fig. 6 (supplement), drawn from a sweep's tables: `python analysis/fig_attacks.py RESULTS_DIR [--out DIR]`.

A runnable script; the figure's code is raysweep.analysis.fig_attacks (installed with raysweep).
"""
import sys

from raysweep.analysis import fig_attacks, plotting

if __name__ == "__main__":
    sys.exit(plotting.standalone(fig_attacks.draw))
