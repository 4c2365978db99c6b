"""What a refused command must look like: one `raysweep: error: <problem>; <fix>` line on stderr,
and nothing left behind in the folders it would have written."""
from __future__ import annotations

from pathlib import Path


def one_error_line(capsys, *phrases: str) -> str:
    """The single stderr line of a failed command; it names every phrase."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("raysweep: error: "), err
    assert ";" in err, f"no fix named: {err}"  # `<problem>; <fix>`
    for phrase in phrases:
        assert phrase in err, err
    return err


def tree(folder: Path) -> list[str]:
    """Every path below folder (empty when it does not exist): what a failed command left."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []
