"""Reading a YAML spec file, with the one-line errors every spec loader gives."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from raysweep.errors import UserError


def read_yaml(path: str | Path, kind: str, example: str) -> Any:
    """The parsed contents of `path`; a missing file or bad YAML is a UserError naming `example`."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{path}: no such {kind}; pass a YAML file such as {example}")
    try:
        return yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({str(e).splitlines()[0]}); fix the syntax") from None
