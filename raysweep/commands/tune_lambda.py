"""`raysweep tune-lambda SPEC [--address auto|ray://...] [--budget N]`: Optuna picks the VAE-GAN
weight lambda per class (one study per class, Ray Tune trials) and writes
<storage>/<name>/lambda.parquet, which sweeps read through `manifolds.options.lambda_table`.
Re-running the same command resumes: every study continues its trial count."""
from __future__ import annotations

import argparse
import sys

from raysweep.commands import describe


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("tune-lambda", help="tune the VAE-GAN lambda per class with Optuna (sweeps/*-lambda.yaml)",
                              description=describe(__doc__))
    p.add_argument("spec", help="lambda spec YAML, e.g. sweeps/fonts-lambda.yaml")
    p.add_argument("--address", default=None,
                   help="Ray cluster: 'auto', 'ray://host:10001' (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--budget", type=int, default=None,
                   help="completed trials per class (overrides the spec's budget; counts earlier runs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from raysweep.resolve.validate import load_lambda_spec
    from raysweep._core.errors import UserError

    spec = load_lambda_spec(args.spec)  # validated before Ray starts
    if args.budget is not None:
        if args.budget < 1:
            raise UserError(f"--budget {args.budget}: need at least 1 trial per class")
        spec = spec.model_copy(update={"budget": args.budget})
    from raysweep.tune.lambda_search import run_lambda_search  # imports Ray lazily
    from raysweep.tune.sweep_runner import connect

    connect(args.address)
    table = run_lambda_search(spec)
    cols = ["class", "lambda", "objective", "paper_lambda", "n_trials"]
    print(table[cols].to_string(index=False), file=sys.stdout)
    print(f"lambda table: {spec.table_path()}", file=sys.stderr)
    return 0
