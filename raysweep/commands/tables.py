"""`raysweep tables SPEC_OR_DIR [--json] [--describe]`: read a sweep's Parquet tables with pandas and print a
summary (trials per status, mean test error and attack success rates per strategy and N), or
with --describe every column and its meaning (raysweep.results.columns).

--json prints the same summary as one JSON object (for scripts); pyarrow and pandas are imported
only when the command runs."""
from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from raysweep.commands import describe
from raysweep._core.errors import UserError

if TYPE_CHECKING:
    from raysweep._core import storage


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("tables", help="summarise a sweep's result tables",
                              description=describe(__doc__))
    p.add_argument("target", nargs="?", help="a sweep spec YAML, or a <storage>/<sweep> (or its tables/) directory")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--describe", action="store_true",
                   help="print every column of the tables with its meaning (without a target: the documented columns)")
    p.set_defaults(func=run)


def tables_root(target: str) -> tuple[storage.Location, str]:
    """(storage, sweep) for a spec file or a results directory (a local path or a URI)."""
    from raysweep._core import storage
    from raysweep.results.schema import TABLES

    if target.endswith((".yaml", ".yml")):
        from raysweep.resolve.validate import load_spec

        spec = load_spec(target, check_data=False)
        return storage.resolve(spec.storage), spec.name
    loc = storage.resolve(target)
    if loc.name == TABLES:
        loc = loc.parent
    if not storage.is_dir(loc / TABLES):
        raise UserError(f"{target}: no tables/ directory here; pass a sweep spec or <storage>/<sweep>")
    return loc.parent, loc.name


def summary(trials) -> "object":
    """Mean of test error and every attack's per-attempt success rate, by strategy and N."""
    ok = trials[trials["status"] == "ok"]
    cols = ["test_error"] + sorted(c for c in ok.columns if c.endswith(".success_rate_attempt"))
    cols = [c for c in cols if ok[c].notna().any()]
    return ok.groupby(["strategy", "n"])[cols].mean().round(4)


def as_json(sweep: str, uri: str, trials, n_examples: int) -> dict:
    """The summary as plain JSON values: counts, the per-(strategy, N) means, failed trials."""
    table = summary(trials).reset_index()
    failed = trials[trials["status"] == "failed"]
    return {"sweep": sweep, "tables": uri, "trials": len(trials), "examples": n_examples,
            "status": {str(k): int(v) for k, v in trials["status"].value_counts().items()},
            "summary": json.loads(table.to_json(orient="records")),
            "failed": [{"trial_id": r["trial_id"], "error": str(r["error"])} for _, r in failed.iterrows()]}


def describe_columns(schemas: dict[str, "object"]) -> list[str]:
    """Lines `<table>.<column> (<type>): <meaning>` for each table's pyarrow schema; the meaning
    is the field's own metadata (written with the file) or, for older files, the documented one."""
    from raysweep.results.columns import DOC, doc_of

    lines = []
    for kind, schema in schemas.items():
        for f in schema:
            doc = (f.metadata or {}).get(DOC, b"").decode() or doc_of(f.name, kind) or "(undocumented)"
            lines.append(f"{kind}.{f.name} ({f.type}): {doc}")
    return lines


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from raysweep.results.store import TableStore

    if args.describe and args.target is None:
        from raysweep.results import schema as S

        print("\n".join(describe_columns({"trials": S.TRIAL_BASE, "examples": S.EXAMPLE_SCHEMA,
                                          "epochs": S.EPOCH_SCHEMA, "manifolds": S.MANIFOLD_SCHEMA})))
        return 0
    if args.target is None:
        raise UserError("tables: name a sweep spec or a results directory (or pass --describe alone)")
    where, sweep = tables_root(args.target)
    store = TableStore(where, sweep)
    if args.describe:
        tables = {kind: store.read(kind) for kind in ("trials", "examples", "epochs", "manifolds")}
        print("\n".join(describe_columns({k: t.schema for k, t in tables.items() if t.num_columns})))
        return 0
    trials = store.read("trials").to_pandas()
    if trials.empty:
        raise UserError(f"{store.root.uri}: no trial rows yet; run `raysweep sweep` first")
    examples = store.read("examples")
    if args.json:
        print(json.dumps(as_json(sweep, store.root.uri, trials, examples.num_rows), indent=1))
        return 0
    print(f"sweep {sweep}: {len(trials)} trials ({', '.join(f'{n} {s}' for s, n in sorted(trials['status'].value_counts().items()))}), "
          f"{examples.num_rows} example rows; tables in {store.root.uri}")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary(trials).to_string())
    failed = trials[trials["status"] == "failed"]
    for _, r in failed.iterrows():
        print(f"failed {r['trial_id']} ({r['strategy']}, n={r['n']}, seed={r['seed']}): {str(r['error']).splitlines()[-1]}")
    return 0
