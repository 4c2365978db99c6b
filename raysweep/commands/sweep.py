"""`raysweep sweep SPEC [--address auto|ray://...] [--resume] [--dry-run] [--storage URI]`: run a sweep spec as
Ray Tune trials and write its Parquet tables. Re-running the same command continues the sweep;
--resume also restores Tune's state so unfinished trials continue from their last epoch."""
from __future__ import annotations

import argparse

from raysweep.commands import describe


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("sweep", help="run a sweep spec (sweeps/*.yaml) on Ray",
                              description=describe(__doc__))
    p.add_argument("spec", help="sweep spec YAML, e.g. sweeps/fonts-smoke.yaml")
    p.add_argument("--address", default=None,
                   help="Ray cluster: 'auto', 'ray://host:10001' (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--resume", action="store_true",
                   help="restore Tune's state so unfinished trials continue from their last checkpoint")
    p.add_argument("--dry-run", action="store_true",
                   help="print the trial count, the resource plan and a cost estimate; run nothing")
    p.add_argument("--retry-failed", action="store_true",
                   help="run trials again whose rows say status=failed (their old rows are set aside)")
    p.add_argument("--storage", default=None,
                   help="override the spec's storage: a path or URI (s3://bucket/prefix) every node can reach")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from raysweep.tune.sweep import run_sweep  # imports Ray: only when the command runs

    summary = run_sweep(args.spec, address=args.address, resume=args.resume, dry=args.dry_run,
                        storage_uri=args.storage, retry_failed=args.retry_failed)
    if summary.unfinished:
        return 130  # interrupted (Ctrl-C): finished rows are kept; --resume continues
    return 1 if summary.failed else 0
