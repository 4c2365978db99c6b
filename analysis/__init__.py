"""Analysis of a sweep's Parquet tables: the paper's figures (Fig. 3, 5, 6, 7 and attack
variants), the four claims as statistics with verdicts, and report.md.

Each figure script runs standalone (`python -m analysis.fig_regular RESULTS_DIR`); the report
(`python -m analysis.report RESULTS_DIR`, or `raysweep analyze RESULTS_DIR`) draws them all.
Column names live in analysis/load.py only.
"""
