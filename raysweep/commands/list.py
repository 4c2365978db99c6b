"""`raysweep list [KIND] [--plugins MODULE ...] [--json]`: every registered model, data set, attack, strategy and distance, one per line, with its family, what it needs, its description and where it came from (module and distribution).

Entries of installed plugins (the `raysweep.plugins` entry-point group) appear with their
distribution; `--plugins` also imports local plugin modules, as a spec's `plugins:` would.
"""
from __future__ import annotations

import argparse
import json

from raysweep.commands import describe

KINDS = ("attacks", "datasets", "distances", "models", "strategies")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("list", help="list registered models, datasets, attacks, strategies and distances",
                              description=describe(__doc__))
    p.add_argument("kind", nargs="?", choices=KINDS, help="one kind only (default: all)")
    p.add_argument("--plugins", nargs="*", default=[], metavar="MODULE",
                   help="local plugin modules to import first (like a spec's plugins:)")
    p.add_argument("--json", action="store_true", help="print a JSON list of entries")
    p.set_defaults(func=run)


def entries(kinds: tuple[str, ...], plugins: list[str]) -> list[dict]:
    """One dict per registered entry: kind, name, description, family, needs, module, distribution."""
    from raysweep.resolve import catalog

    catalog.load(plugins)
    regs = catalog.registries()
    return [{"kind": kind, "name": e.name, "description": e.description, "family": e.family, "needs": e.needs,
             **catalog.origin(e)} for kind in kinds for e in regs[kind]]


def run(args: argparse.Namespace) -> int:
    kinds = (args.kind,) if args.kind else KINDS
    rows = entries(kinds, args.plugins)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    width = max((len(r["name"]) for r in rows), default=0)
    for kind in kinds:
        if len(kinds) > 1:
            print(f"{kind}:")
        for r in (r for r in rows if r["kind"] == kind):
            tags = ", ".join(t for t in (r["family"], r["needs"] and f"needs {r['needs']}") if t)
            where = r["module"] + (f" ({r['distribution']})" if r["distribution"] else " (local)")
            print(f"{'  ' if len(kinds) > 1 else ''}{r['name']:<{width}}  {r['description']}"
                  + (f"  [{tags}]" if tags else "") + f"  from {where}")
        if kind == "attacks":
            for line in missing_peers():
                print(f"{'  ' if len(kinds) > 1 else ''}{line}")
    return 0


def missing_peers() -> list[str]:
    """A line per peer attack (torchattacks, AutoAttack) whose package is not installed."""
    from raysweep.attacks.peers import PEER_ATTACKS, PEERS_EXTRA, missing_peer

    return [f"{name}  {what}  [not installed: {PEERS_EXTRA}]" for name, (_, what) in PEER_ATTACKS.items()
            if missing_peer(name)]
