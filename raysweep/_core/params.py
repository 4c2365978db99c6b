"""Typed parameters from a spec's plain values: the one "unknown key / wrong type" check.

Attacks, strategies and VAE-GAN overrides all hold their hyperparameters in frozen dataclasses;
`typed(cls, params, what)` builds one from a spec's mapping, so a typo or a wrong type becomes
one UserError line naming the parameter and listing the known ones, at load, not in a trial.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping, TypeVar

from pydantic import TypeAdapter, ValidationError

from raysweep._core.errors import UserError

P = TypeVar("P")


@functools.lru_cache(maxsize=None)
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def known_names(cls: type) -> list[str]:
    return sorted(f.name for f in dataclasses.fields(cls))


def check_keys(what: str, given: Mapping[str, Any], known: list[str]) -> None:
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise UserError(f"{what} has no parameter(s) {', '.join(unknown)}; known: {', '.join(known) or 'none'}")


def typed(cls: type[P], params: Mapping[str, Any], what: str) -> P:
    """cls(**params) with names and types checked (pydantic's lax mode: 5.0 is a valid int,
    "abc" is not a float); __post_init__ value checks run too."""
    check_keys(what, params, known_names(cls))
    try:
        return _adapter(cls).validate_python(dict(params))
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        got = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
        raise UserError(f"{what}: parameter {where}: {err['msg'].removeprefix('Value error, ')}{got}; fix its value") from None
