"""Random baselines: perturbations drawn in the eps-ball (image space) or eta-ball (latent
space) without any optimisation (supplement F). The draw is the attacks' random start,
uniform in distance and direction (supplement Eq. 19), then projected onto the box; each
restart is one independent draw (iterations = 0)."""
from __future__ import annotations

from dataclasses import dataclass

from raysweep.attacks.base import AttackConfig
from raysweep.attacks.onmanifold import LatentConfig, OnManifoldAttack
from raysweep.attacks.pgd import PGDAttack, PGDConfig
from raysweep.attacks.registry import register_attack
from raysweep._core.errors import UserError

_MANIFOLD_KINDS = ("true", "class", "data")


@dataclass(frozen=True)
class RandomLatentConfig(LatentConfig):
    manifold: str = "class"  # which manifold the sweep must provide: "true", "class" or "data"

    def validate(self) -> None:
        super().validate()
        if self.manifold not in _MANIFOLD_KINDS:
            raise UserError(f"random_latent manifold must be one of {', '.join(_MANIFOLD_KINDS)}, got {self.manifold!r}")


class RandomLatentAttack(OnManifoldAttack):
    """A random draw in the latent eta-ball, decoded; needs the manifold named in its config."""

    config: RandomLatentConfig

    def __init__(self, name: str, config: AttackConfig, needs: object = None):
        super().__init__(name, config, config.manifold)  # type: ignore[attr-defined]


register_attack("random_linf", PGDAttack, PGDConfig, None, "baseline", "random L-inf noise, eps 0.3 (baseline)",
                eps=0.3, norm="linf", iterations=0)
register_attack("random_l2", PGDAttack, PGDConfig, None, "baseline", "random L2 noise, eps 1.5 (baseline)",
                eps=1.5, norm="l2", iterations=0)
register_attack("random_latent", RandomLatentAttack, RandomLatentConfig, "class", "baseline",
                "random latent noise, eta 0.3, decoded (on-manifold baseline)", eta=0.3, iterations=0)
