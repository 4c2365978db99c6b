"""The one exception type for mistakes a user can fix (bad spec, missing data, impossible N).

The CLI (and every script in benchmarks/, through `run_script`) turns it into a single line on
stderr and exit code 2; everything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import sys
from typing import Callable


class UserError(Exception):
    """A problem the user caused and can fix; the message names the problem and the fix."""


def run_script(main: Callable[[], object], prog: str) -> int:
    """Exit code of `main()`: 0, or 2 after one line `prog: error: ...` for a UserError."""
    try:
        main()
    except UserError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    return 0


def at_least_one(**counts: int) -> None:
    """One UserError line naming each command-line count below 1, as typed (`--n 0: ...`)."""
    low = [f"--{name.replace('_', '-')} {value}" for name, value in counts.items() if value < 1]
    if low:
        raise UserError(f"{' '.join(low)}: must be at least 1")
