"""The `raysweep` command line. Each subcommand lives in raysweep/commands/<name>.py and exposes
`add_parser(subparsers)`; that function sets `func` on its parser. Subcommands that start Ray
import raysweep.tune lazily, so `raysweep --help` and `raysweep list` stay fast.

A UserError anywhere becomes one line on stderr and exit code 2 (no traceback).
"""
from __future__ import annotations

import argparse
import importlib
import sys

import raysweep
from raysweep._core.errors import UserError

# Order here is the order in `raysweep --help`.
COMMANDS = ["data", "train", "list", "sweep", "evaluate", "tables", "tune_lambda", "analyze"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raysweep",
        description="Ray sweeps that disentangle adversarial robustness and generalization.",
    )
    parser.add_argument("--version", action="version", version=f"raysweep {raysweep.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"raysweep.commands.{name}")
        except ModuleNotFoundError as e:  # a command not built yet must not break the others
            if e.name == f"raysweep.commands.{name}":
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and hasattr(args, "assignments") and not any(e.startswith("-") for e in extra):
        args.assignments += extra  # key=value overrides typed after an option (`sweep SPEC --dry-run a=1`)
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        print(f"raysweep: error: name a command ({', '.join(COMMANDS).replace('_', '-')}); see raysweep --help",
              file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"raysweep: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001  (re-raised unless it is a config built from the command line)
        if type(e).__name__ != "ValidationError" or type(e).__module__.split(".")[0] not in ("pydantic", "pydantic_core"):
            raise
        # a typed config refused a command-line value; lazy: pydantic is start-up every command would pay
        from raysweep.config.parse import format_error

        print(f"raysweep: error: {format_error(f'raysweep {args.command}', e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("raysweep: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
