"""One CLI subcommand per module: `add_parser(subparsers)` sets `func` on its parser.

Modules here import only the standard library at import time (torch, Ray, pandas and pyarrow
inside `run`), so building the whole parser for `raysweep --help` stays well under a second.
"""
from __future__ import annotations


def describe(doc: str) -> str:
    """A command's description: its module docstring's first paragraph as one line (a docstring's
    first line alone stops mid-sentence)."""
    return " ".join(doc.strip().split("\n\n")[0].split())
