"""The attack registry and which manifold (or source model) each attack needs.

ATTACK_NEEDS[name] is None, "true", "class", "data" (which manifold the sweep must provide) or
"source_model" (transfer). It gives the default; a built attack's `.needs` is authoritative
(random_latent can be pointed at another manifold with its `manifold` parameter).
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from raysweep.attacks.base import Attack, build_config
from raysweep.registry import Registry

ATTACKS: Registry[Attack] = Registry("attack")
ATTACK_NEEDS: dict[str, Optional[str]] = {}


def register_attack(name: str, attack_cls: Callable[..., Attack], config_cls: type, needs: Optional[str],
                    description: str, **defaults: Any) -> None:
    """Register `name` as attack_cls with config_cls(**defaults, **overrides)."""

    def factory(**params: Any) -> Attack:
        config = build_config(config_cls, name, {**defaults, **params})
        return attack_cls(name, config, needs)

    factory.__doc__ = description
    ATTACKS.register(name, description)(factory)
    ATTACK_NEEDS[name] = needs
