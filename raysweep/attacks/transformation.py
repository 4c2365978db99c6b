"""Adversarial transformation (STN) attack (Eq. 5 of the paper).

Optimise a 6-DOF offset t on the identity theta (0, 0, 0, 0, 1, 0) = (tx, ty, shear_x,
shear_y, scale, rotation); the real image is resampled through the spatial transformer
(raysweep.data.transform.warp) with theta = identity + t, ||t||_inf <= eta 0.3, and theta kept
in the preset's box (default "hard", or explicit `lower`/`upper` 6-vectors). The first restart
starts exactly at the identity, as the paper does; further restarts start from an Eq. 19 draw
around it so they explore something else. Shapes: x [B, C, H, W], t [B, 6].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from raysweep.attacks.base import Attack, AttackConfig
from raysweep.attacks.norms import project, random_start, row_norm
from raysweep.attacks.problem import Work, cross_entropy_objective, repeat_rows
from raysweep.attacks.registry import register_attack
from raysweep.data.batch import Batch
from raysweep.data.transform import get_preset, identity_theta, warp
from raysweep._core.errors import UserError


@dataclass(frozen=True)
class TransformConfig(AttackConfig):
    eta: float = 0.3
    preset: str = "hard"  # box on theta; ignored when lower/upper are given
    lower: Optional[tuple[float, ...]] = None  # 6 values: tx, ty, shear_x, shear_y, scale, rotation
    upper: Optional[tuple[float, ...]] = None
    random_start: bool = True  # for restarts after the first (the first starts at the identity)

    def validate(self) -> None:
        super().validate()
        if (self.lower is None) != (self.upper is None):
            raise UserError("transform attack: give both lower and upper (6 values each), or neither")
        if self.lower is not None and (len(self.lower) != 6 or len(self.upper) != 6):  # type: ignore[arg-type]
            raise UserError("transform attack: lower and upper need 6 values (tx, ty, shear_x, shear_y, scale, rotation)")
        lower, upper = self.box()
        if not bool((lower <= identity_theta(1)[0]).all() and (identity_theta(1)[0] <= upper).all()):
            raise UserError("transform attack: the theta box must contain the identity (0, 0, 0, 0, 1, 0)")

    def box(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.lower is not None:
            return torch.tensor(self.lower, dtype=torch.float32), torch.tensor(self.upper, dtype=torch.float32)
        return get_preset(self.preset).box()


class TransformProblem:
    """t around the identity: x_adv = warp(x, identity + t)."""

    def __init__(self, batch: Batch, config: TransformConfig):
        self.x_ref, self.y = batch.x, batch.y
        self.valid = torch.ones_like(batch.y, dtype=torch.bool)
        self.config = config
        lower, upper = config.box()
        self.lower, self.upper = lower.to(batch.x.device), upper.to(batch.x.device)
        self.identity = identity_theta(1, batch.x.device, batch.x.dtype)  # [1, 6]
        self.z = self.identity.expand(len(batch), 6)  # the start, so results report theta = z + t

    def rows(self, restarts: int) -> Work:
        b = len(self.y)
        return {"x": repeat_rows(self.x_ref, restarts), "y": repeat_rows(self.y, restarts),
                "restart": torch.arange(restarts, device=self.y.device).repeat_interleave(b)}

    def init(self, work: Work, generator: Optional[torch.Generator]) -> torch.Tensor:
        n = work["y"].shape[0]
        if not self.config.random_start:
            return self.identity.new_zeros(n, 6)
        t = random_start((n, 6), self.config.eta, "linf", generator, self.identity.device, self.identity.dtype)
        t[work["restart"] == 0] = 0.0  # the paper's start: the identity
        return self.project(t, work)

    def image(self, var: torch.Tensor, work: Work) -> torch.Tensor:
        return warp(work["x"], self.identity + var)

    def project(self, var: torch.Tensor, work: Work) -> torch.Tensor:
        return project(var, self.identity, self.config.eta, "linf", self.lower, self.upper)

    def objective(self, logits: torch.Tensor, var: torch.Tensor, x_adv: torch.Tensor, work: Work) -> torch.Tensor:
        return cross_entropy_objective(logits, work["y"])

    def latent_norm(self, var: torch.Tensor) -> torch.Tensor:
        return row_norm(var, "linf")


class TransformAttack(Attack):
    """Adversarial transformation attack (see the module docstring)."""

    config: TransformConfig

    def problem(self, batch: Batch, manifold: Any) -> TransformProblem:
        return TransformProblem(batch, self.config)


register_attack("transform", TransformAttack, TransformConfig, None, "transformation",
                "adversarial transformation (STN) attack, eta 0.3 around the identity (Eq. 5)", eta=0.3)
