"""`raysweep list models|datasets|attacks|strategies|distances`: one registered name per line
with its family, what it needs, and its description (raysweep.catalog)."""
from __future__ import annotations

import argparse

KINDS = ("attacks", "datasets", "distances", "models", "strategies")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("list", help="list registered models, datasets, attacks, strategies or distances",
                              description=__doc__.splitlines()[0])
    p.add_argument("kind", choices=KINDS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from raysweep import catalog

    catalog.load()
    entries = list(catalog.registries()[args.kind])
    width = max((len(e.name) for e in entries), default=0)
    for e in entries:
        tags = ", ".join(t for t in (e.family, e.needs and f"needs {e.needs}") if t)
        print(f"{e.name:<{width}}  {e.description}" + (f"  [{tags}]" if tags else ""))
    return 0
