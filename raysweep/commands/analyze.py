"""`raysweep analyze RESULTS_DIR [--out DIR]`: draw the paper's figures and write report.md with
the claims table for a finished sweep (analysis/report.py does the work; no Ray needed)."""
from __future__ import annotations

import argparse

from raysweep.commands import describe
from raysweep.errors import UserError


def run(args: argparse.Namespace) -> int:
    try:
        from analysis.report import write_report  # lazy: matplotlib stays out of `raysweep --help`
    except ModuleNotFoundError as e:
        if e.name != "analysis":
            raise
        raise UserError("the analysis package is not installed; re-install raysweep (pip install -e .) "
                        "from its checkout") from None

    path = write_report(args.results_dir, args.out, seed=args.seed, arch=args.arch)
    # the report's verdict line, so `make demo` ends with the answer and not only a path
    verdicts = next((line for line in path.read_text().splitlines() if line.startswith("Claims:")), None)
    if verdicts:
        print(verdicts)
    print(f"report: {path}")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("analyze", help="figures and the claims report for a finished sweep",
                              description=describe(__doc__))
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="<storage>/<sweep> (or its tables folder)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: RESULTS_DIR/analysis)")
    p.add_argument("--arch", default=None, metavar="NAME", help="analyse only this architecture's trials")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap confidence intervals")
    p.set_defaults(func=run)
