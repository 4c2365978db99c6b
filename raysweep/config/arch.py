"""A grid architecture: a registered model name plus its options (`{name: resnet13, width: 4}`).

In a spec an entry is a bare name (`cnn`) or a mapping whose keys besides `name` are the
factory's options (raysweep.models: `MODELS.build(name, in_shape=..., n_classes=..., **options)`);
`options: {...}` may be spelled out instead. An entry without options serialises back to the
bare name, so trial ids of specs written before options existed do not change.
"""
from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator


class ArchSpec(BaseModel):
    # schema.Strict's settings; not its subclass, because schema.py imports this module
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)  # factory keyword arguments, e.g. width

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"name": data}
        if isinstance(data, dict) and "options" not in data:
            flat = {"options": {k: v for k, v in data.items() if k != "name"}}
            return {**flat, "name": data["name"]} if "name" in data else flat  # no name: "missing"
        return data

    @model_serializer
    def _dump(self) -> Any:
        return self.name if not self.options else {"name": self.name, **self.options}

    @property
    def key(self) -> str:
        """The `arch` column: the name, with the options when there are any (resnet13(width=4))."""
        if not self.options:
            return self.name
        opts = ",".join(f"{k}={json.dumps(v, sort_keys=True)}" for k, v in sorted(self.options.items()))
        return f"{self.name}({opts})"

    def __hash__(self) -> int:  # options hold dicts; two entries are the same when their keys are
        return hash(self.key)
