"""Analysis of a sweep's Parquet tables: the paper's figures (Fig. 3, 5, 6, 7 and attack
variants), the four claims as statistics with verdicts, and report.md.

The library lives here, installed with raysweep; the repository's analysis/ folder holds the
runnable scripts (`python analysis/fig_regular.py RESULTS_DIR`, `python analysis/report.py
RESULTS_DIR`, or `raysweep analyze RESULTS_DIR`), and each module here also runs with
`python -m raysweep.analysis.<name>`. Column names reach the analysis through raysweep/analysis/load.py only.
"""
