"""`raysweep sweep SPEC [KEY=VALUE ...] [--set KEY=VALUE ...] [--dry-run [--list]] [--dashboard] [--address auto|ray://...] [--resume] [--storage URI]`: run a sweep spec as Ray Tune trials and write its Parquet tables.

Re-running the same command continues the sweep; --resume also restores Tune's state so
unfinished trials continue from their last epoch. --dry-run prints the plan on stdout without
starting Ray; --list adds the expanded trial list.
"""
from __future__ import annotations

import argparse

from raysweep.commands import describe


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("sweep", help="run a sweep spec (sweeps/*.yaml) on Ray",
                              description=describe(__doc__))
    p.add_argument("spec", help="sweep spec YAML, e.g. sweeps/fonts-smoke.yaml")
    p.add_argument("assignments", nargs="*", metavar="KEY=VALUE",
                   help="overrides as Hydra users type them, e.g. train.epochs=5 'evaluate.attacks[0].samples=100'")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a spec value (repeatable; validated like the spec), e.g. --set train.epochs=5")
    p.add_argument("--address", default=None,
                   help="Ray cluster: 'auto', 'ray://host:10001' (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--resume", action="store_true",
                   help="restore Tune's state so unfinished trials continue from their last checkpoint")
    p.add_argument("--dry-run", action="store_true",
                   help="print the trial count, the resource plan and a cost estimate on stdout; run nothing")
    p.add_argument("--list", action="store_true", help="with --dry-run: also list every expanded trial")
    p.add_argument("--dashboard", action="store_true", help="start the local Ray with its dashboard (prints its URL)")
    p.add_argument("--retry-failed", action="store_true",
                   help="run trials again whose rows say status=failed (their old rows are set aside)")
    p.add_argument("--storage", default=None,
                   help="override the spec's storage: a path or URI (s3://bucket/prefix) every node can reach")
    p.set_defaults(func=run)


def dry_run(args: argparse.Namespace) -> int:
    """The plan without Ray (no cluster, so GPU requests are shown as written)."""
    from raysweep.resolve.plan import plan_lines, trial_lines
    from raysweep.results.store import TableStore
    from raysweep.resolve.validate import load_sweep

    spec, trials = load_sweep(args.spec, overrides=args.overrides)
    if args.storage:
        spec = spec.model_copy(update={"storage": args.storage})
    done = TableStore(spec.storage, spec.name).done_ids()
    for line in plan_lines(spec, trials, done, None) + (trial_lines(trials, done) if args.list else []):
        print(line)
    return 0


def run(args: argparse.Namespace) -> int:
    from raysweep._core.errors import UserError

    bad = [a for a in args.assignments if "=" not in a]
    if bad:
        raise UserError(f"{bad[0]!r}: overrides after the spec are key=value, e.g. train.epochs=5")
    args.overrides = [*args.overrides, *args.assignments]  # one list, in the order given: a later one wins
    if args.dry_run:
        return dry_run(args)
    if args.list:
        raise UserError("--list lists the trials of a plan; use it with --dry-run")
    from raysweep.tune.sweep_runner import run_sweep  # imports Ray: only when the command runs

    summary = run_sweep(args.spec, address=args.address, resume=args.resume, storage_uri=args.storage,
                        retry_failed=args.retry_failed, overrides=args.overrides, dashboard=args.dashboard)
    if summary.unfinished:
        return 130  # interrupted (Ctrl-C): finished rows are kept; --resume continues
    return 1 if summary.failed else 0
