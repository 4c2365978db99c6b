"""The attack registry. Each entry carries what it needs and its family (raysweep._core.registry).

`needs` is None, "true", "class", "data" (which manifold the sweep must provide) or
"source_model" (transfer); `ATTACKS.get(name).needs_for(params)` is the need of a configured
attack (random_latent can be pointed at another manifold with its `manifold` parameter).
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from raysweep.attacks.base import Attack, build_config
from raysweep._core.registry import Registry

FAMILIES = ("regular", "on-manifold", "transformation", "baseline")
ATTACKS: Registry[Attack] = Registry("attack", FAMILIES)


def register_attack(name: str, attack_cls: Callable[..., Attack], config_cls: type, needs: Optional[str],
                    family: str, description: str, **defaults: Any) -> None:
    """Register `name` as attack_cls with config_cls(**defaults, **overrides)."""

    def factory(**params: Any) -> Attack:
        config = build_config(config_cls, name, {**defaults, **params})
        return attack_cls(name, config, needs)

    factory.__doc__ = description
    ATTACKS.register(name, description, needs=needs, family=family)(factory)
