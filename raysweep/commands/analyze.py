"""`raysweep analyze RESULTS_DIR [--out DIR]`: draw the paper's figures and write report.md with
the claims table for a finished sweep (raysweep/analysis/report.py does the work; no Ray needed)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from raysweep.commands import describe
from raysweep._core.errors import UserError


def run(args: argparse.Namespace) -> int:
    from raysweep.analysis.report import write_report  # lazy: matplotlib stays out of `raysweep --help`

    check_writable(Path(args.out) if args.out is not None else default_out(args.results_dir))
    warn_spec_versions(args.results_dir)
    path = write_report(args.results_dir, args.out, seed=args.seed, arch=args.arch)
    # the report's verdict line, so `make demo` ends with the answer and not only a path
    verdicts = next((line for line in path.read_text().splitlines() if line.startswith("Claims:")), None)
    if verdicts:
        print(verdicts)
    print(f"report: {path}")
    return 0


def warn_spec_versions(results_dir: str) -> None:
    """One warning line when the folder mixes rows of several spec versions (naming the columns)."""
    import sys

    from raysweep.analysis.load import load_tables, spec_versions

    differing = spec_versions(load_tables(results_dir).trials)
    if differing:
        print(f"raysweep: warning: {results_dir} holds rows of more than one spec version (they differ in "
              f"{', '.join(differing)}); the analysis pools them: give each version its own sweep name or storage",
              file=sys.stderr)


def default_out(results_dir: str) -> Path:
    """Where write_report puts figures without --out (raysweep.analysis.load.Tables.output_dir)."""
    from raysweep.analysis.load import Tables
    from raysweep.results import reader

    return Tables(None, None, reader.tables_dir(results_dir).parent.uri).output_dir()


def check_writable(out: Path) -> None:
    """The output folder can be created and written, checked before any table is read or any
    figure drawn, without creating anything: its nearest existing ancestor is a writable folder."""
    probe = out.expanduser().absolute()
    while not probe.exists():
        if probe.is_symlink():  # a dangling link: mkdir would fail on it
            break
        probe = probe.parent
    if not probe.is_dir():
        what = "is not a folder" if probe == out.expanduser().absolute() else f"is under {probe}, which is not a folder"
        raise UserError(f"output folder {out} {what}; pass --out with a writable folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"output folder {out} cannot be created or written ({probe} is not writable); "
                        "pass --out with a writable folder")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("analyze", help="figures and the claims report for a finished sweep",
                              description=describe(__doc__))
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="<storage>/<sweep> (or its tables folder)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: RESULTS_DIR/analysis)")
    p.add_argument("--arch", default=None, metavar="NAME", help="analyse only this architecture's trials")
    p.add_argument("--seed", type=int, default=0, help="unused: intervals are t-intervals over seeds and draw nothing (kept so scripts that pass it still run)")
    p.set_defaults(func=run)
