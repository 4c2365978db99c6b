"""Structure checks of a spec (types, unknown keys, ranges), as one UserError line per mistake.

No registry is consulted here (raysweep.resolve.validate does that); this is pydantic plus the wording
every spec loader shares.
"""
from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from raysweep.config.schema import SweepSpec
from raysweep._core.errors import UserError

M = TypeVar("M", bound=BaseModel)


def format_error(source: str, err: ValidationError) -> str:
    """The first validation error as `source: key.path: what is wrong; the fix`."""
    e = err.errors()[0]
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"]).lstrip(".") or "(top level)"
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "value_error" and not e["loc"]:  # cross-field checks name their own keys
        return f"{source}: {msg}"
    if e["type"] == "extra_forbidden":
        msg = "unknown key; remove it or check its spelling"
    elif e["type"] == "missing":
        msg = "required key is missing; add it"
    elif "input" in e and not isinstance(e["input"], (dict, list)):
        msg = f"value {_short(e['input'])}: {msg}"
    if ";" not in msg:  # pydantic says what is wrong, not what to do
        msg += "; " + _FIXES.get(e["type"], "fix the value")
    return f"{source}: {path}: {msg}"


_FIXES = {
    "string_too_long": "shorten it",
    "string_too_short": "give a non-empty value",
    "finite_number": "use a finite number",
    "string_pattern_mismatch": "start with a letter or digit and use only letters, digits, '_', '.' and '-'",
}


def _short(value: Any, limit: int = 40) -> str:
    """repr of a value, cut so one bad value (a 300-character name) cannot flood the line."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f"{len(value)} characters" if isinstance(value, str) else f"{len(text)} characters as text"
    return f"{text[:limit]}... ({size})"


def parse_model(cls: type[M], data: Any, source: str, kind: str) -> M:
    """cls.model_validate(data), with a non-mapping or invalid input turned into one UserError."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: a {kind} must be a YAML mapping, got {type(data).__name__}")
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise UserError(format_error(source, e)) from None


def parse_spec(data: Any, source: str = "spec") -> SweepSpec:
    """Validate a sweep spec's structure without touching registries."""
    return parse_model(SweepSpec, data, source, "sweep spec")
