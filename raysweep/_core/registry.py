"""Name -> constructor registries (the timm pattern), so sweep specs hold names only.

Each entry carries its metadata beside its factory, so no side table has to be kept in step:
- `needs`: what a caller must provide, one of `None`, "true", "class", "data" (which manifold)
  or "source_model" (the transfer attack) / "train" (the kNN distance's training images).
  A configured entry with a `manifold` parameter needs that manifold instead (`needs_for`).
- `family`: the analysis tag (attacks: regular / on-manifold / transformation / baseline;
  strategies also normal / combined), which analysis reads instead of lists of names; None for
  entries (plugins) that belong to no family analysis knows.
- `check`: validates a spec's parameters for the entry without building it (strategies need a
  runtime context to build; their check builds the typed parameter object only). Without one,
  raysweep.resolve.validate builds the entry, which for attacks and distances is cheap and data-free.
- `params`: the typed parameter dataclass (strategies), whose defaults raysweep.resolve.validate writes
  into a spec, so a default left out and a default written out are the same trial.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Mapping, Optional, TypeVar

from raysweep._core.errors import UserError

T = TypeVar("T")

MANIFOLD_KINDS = ("true", "class", "data")  # one name per manifold, everywhere
NEEDS = (*MANIFOLD_KINDS, "source_model", "train")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    factory: Callable[..., T]
    description: str
    needs: Optional[str] = None
    family: Optional[str] = None
    check: Optional[Callable[..., Any]] = None
    params: Optional[type] = None  # the typed parameter dataclass, whose defaults fill a spec

    def needs_for(self, params: Mapping[str, Any]) -> Optional[str]:
        """What this entry needs when configured with `params` (a `manifold` parameter wins)."""
        return (params.get("manifold") or self.needs) if self.needs in (None, *MANIFOLD_KINDS) else self.needs


class Registry(Generic[T]):
    """A named table of factories. Registering a name twice fails loudly."""

    def __init__(self, kind: str, families: tuple[str, ...] = ()):
        self.kind = kind
        self.families = families
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, description: str = "", *, needs: Optional[str] = None,
                 family: Optional[str] = None, check: Optional[Callable[..., Any]] = None,
                 params: Optional[type] = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
        if needs is not None and needs not in NEEDS:
            raise ValueError(f"{self.kind} {name!r}: needs {needs!r} is not one of {NEEDS}")
        if family is not None and self.families and family not in self.families:
            raise ValueError(f"{self.kind} {name!r}: family {family!r} is not one of {self.families}")

        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            lines = (factory.__doc__ or "").strip().splitlines()
            text = description or (lines[0] if lines else "")
            self._entries[name] = Entry(name, factory, text, needs, family, check, params)
            return factory

        return deco

    def get(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise UserError(f"unknown {self.kind} {name!r}; choose one of: {known}") from None

    def build(self, name: str, **kwargs: Any) -> T:
        return self.get(name).factory(**kwargs)

    def names(self, family: Optional[str] = None) -> list[str]:
        return sorted(n for n, e in self._entries.items() if family is None or e.family == family)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))
