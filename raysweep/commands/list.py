"""`raysweep list models|datasets|attacks|strategies`: one registered name per line with its
description. Each registry's package is imported only when asked for; a package that does not
exist yet lists nothing."""
from __future__ import annotations

import argparse
import importlib

# kind -> (package whose import registers the entries, module holding the registry, its name)
REGISTRIES: dict[str, tuple[str, str, str]] = {
    "models": ("raysweep.models", "raysweep.models", "MODELS"),
    "datasets": ("raysweep.data", "raysweep.data.dataset", "DATASETS"),
    "attacks": ("raysweep.attacks", "raysweep.attacks", "ATTACKS"),
    "strategies": ("raysweep.training.strategies", "raysweep.training.strategy", "STRATEGIES"),
}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("list", help="list registered models, datasets, attacks or strategies",
                              description=__doc__.splitlines()[0])
    p.add_argument("kind", choices=sorted(REGISTRIES))
    p.set_defaults(func=run)


def _registry(kind: str):
    """The registry for `kind`, or None while its package does not exist."""
    package, module, attr = REGISTRIES[kind]
    try:
        importlib.import_module(package)
        return getattr(importlib.import_module(module), attr, None)
    except ModuleNotFoundError as e:
        if e.name is not None and package.startswith(e.name):  # the package itself is missing
            return None
        raise


def run(args: argparse.Namespace) -> int:
    registry = _registry(args.kind)
    entries = list(registry) if registry is not None else []
    width = max((len(e.name) for e in entries), default=0)
    for e in entries:
        print(f"{e.name:<{width}}  {e.description}".rstrip())
    return 0
