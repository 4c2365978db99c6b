"""All figures and report.md with the claims table for a finished sweep:
`python analysis/report.py RESULTS_DIR [--out DIR] [--arch NAME]` (what `raysweep analyze` runs).

A runnable script; the report's code is raysweep.analysis.report (installed with raysweep).
"""
import sys

from raysweep.analysis.report import main

if __name__ == "__main__":
    sys.exit(main())
