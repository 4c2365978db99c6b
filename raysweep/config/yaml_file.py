"""Reading a YAML spec file, with the one-line errors every spec loader gives."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from raysweep._core.errors import UserError


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key written twice in one mapping: PyYAML keeps the last value
    silently, so `epochs: 20 ... epochs: 2` would run a different study than the one read."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<:` merges are not duplicates
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key; the base class reports it
                    continue
                if first is not key_node.start_mark:
                    raise _DuplicateKey(problem=f"key {key!r} appears twice (lines {first.line + 1} and "
                                        f"{key_node.start_mark.line + 1})", problem_mark=key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path, kind: str, example: str) -> Any:
    """The parsed contents of `path`; a missing file, a binary file, bad YAML or a duplicate key is
    a UserError naming `example`."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{path}: no such {kind}; pass a YAML file such as {example}")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not a text file (byte {e.object[e.start]:#04x} at offset {e.start} is not UTF-8); "
                        f"pass a YAML {kind} such as {example}") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read the {kind} ({e.strerror}); check its permissions") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except _DuplicateKey as e:
        raise UserError(f"{path}: {e.problem}; keep one of them") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(f"{path}: not valid YAML ({what}{where}); fix the syntax") from None
