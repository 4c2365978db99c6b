"""`--set key.path=value` overrides, applied to a spec's raw mapping before it is parsed.

Applying them to the YAML mapping (not to the parsed spec) means an override is checked exactly
like the file: pydantic's structure checks, then the registry pass of raysweep.resolve.validate, and it
reaches the rows through the resolved trial config like any spec value. Values are YAML scalars
or flow collections (`train.epochs=5`, `grid.n=[100,200]`, `strategies[0].params.eps=0.1`);
a list index is written as the error messages print it (`evaluate.attacks[0].samples`) or as a
numeric path part (`evaluate.attacks.0.samples`). `raysweep sweep SPEC key=value ...` takes them
as Hydra users type them, beside --set.
"""
from __future__ import annotations

import copy
import re
from typing import Any, Iterable

import yaml

from raysweep._core.errors import UserError


def parse_override(text: str) -> tuple[list[str], Any]:
    """'a.b.c=value' -> (['a', 'b', 'c'], parsed value)."""
    key, sep, raw = text.partition("=")
    parts = re.sub(r"\[(\d+)\]", r".\1", key.strip()).split(".")  # attacks[0].samples == attacks.0.samples
    if not sep or not all(p.strip() for p in parts):
        raise UserError(f"--set {text!r}: expected key.path=value, e.g. --set train.epochs=5")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise UserError(f"--set {text!r}: the value is not YAML ({str(e).splitlines()[0]}); quote it") from None
    return [p.strip() for p in parts], value


def _step(node: Any, part: str, text: str, create: bool) -> Any:
    """The child `part` of `node` (a list index for lists), creating a mapping when asked."""
    if isinstance(node, list):
        if not part.isdigit() or int(part) >= len(node):
            raise UserError(f"--set {text!r}: {part!r} is not an index of a list of {len(node)}; use 0..{len(node) - 1}")
        return node[int(part)]
    if not isinstance(node, dict):
        raise UserError(f"--set {text!r}: {part!r} is below a value that is not a mapping; shorten the key path")
    if part not in node and create:
        node[part] = {}
    return node[part]


def apply_overrides(data: Any, overrides: Iterable[str]) -> Any:
    """A copy of the spec mapping `data` with every override set (in order; a later one wins)."""
    overrides = list(overrides)
    if not overrides:
        return data
    if not isinstance(data, dict):
        raise UserError("--set: the spec is not a YAML mapping")
    out = copy.deepcopy(data)
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for part in parts[:-1]:
            node = _step(node, part, text, create=True)
        last = parts[-1]
        if isinstance(node, list):
            _step(node, last, text, create=False)
            node[int(last)] = value
        elif isinstance(node, dict):
            node[last] = value  # an unknown key is then rejected by the schema, like in the file
        else:
            raise UserError(f"--set {text!r}: {last!r} is below a value that is not a mapping; shorten the key path")
    return out
