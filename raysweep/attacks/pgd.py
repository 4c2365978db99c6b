"""Regular (image-space) attacks: Adam-PGD under an L-inf or L2 bound (Eq. 1, supplement Eq. 17).

Maximise the cross-entropy with the true label over delta, ||delta|| <= eps, x + delta in
[0, 1], with Adam (lr 0.005, 40 iterations), projecting onto the eps-ball (Eq. 18) and the box
every iteration; random start uniform in distance and direction (Eq. 19; `start="box"` draws
uniformly in the L-inf box / L2 ball instead, as foolbox and Madry et al. do); 5 restarts; each
sample stops at its first misclassification and keeps that iterate. Defaults: L-inf eps 0.3,
L2 eps 1.5. `step="sign"` gives the plain sign-gradient PGD step instead of Adam;
`step="adam_sign"` is foolbox's LinfAdamPGD (Adam on sign(grad)) and `step="adam_scaled"` Adam on
each row's gradient scaled to max 1 (see raysweep.attacks.loop.STEPS).
Shapes: x [B, C, H, W] in [0, 1]; delta the same.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn

from raysweep.attacks.base import Attack, AttackConfig, build_config
from raysweep.attacks.norms import START_KINDS, check_norm, project_ball, random_start
from raysweep.attacks.problem import Work, cross_entropy_objective, repeat_rows
from raysweep.attacks.registry import register_attack
from raysweep.data.batch import Batch
from raysweep._core.errors import UserError


@dataclass(frozen=True)
class PGDConfig(AttackConfig):
    eps: float = 0.3
    norm: str = "linf"
    random_start: bool = True  # False starts at delta = 0
    start: str = "paper"  # "paper" (Eq. 19), "box" (uniform in the ball's volume), "sphere" (APGD's)

    def validate(self) -> None:
        super().validate()
        check_norm(self.norm)
        if self.start not in START_KINDS:
            raise UserError(f"unknown random start {self.start!r}; use one of: {', '.join(START_KINDS)}")


class ImageProblem:
    """delta in image space: x_adv = x + delta with delta in the eps-ball and x + delta in [0,1]."""

    def __init__(self, batch: Batch, eps: float, norm: str, random_init: bool = True, start: str = "paper"):
        self.x_ref, self.y = batch.x, batch.y
        self.valid = torch.ones_like(batch.y, dtype=torch.bool)
        self.eps, self.norm, self.random_init, self.start = eps, norm, random_init, start

    def rows(self, restarts: int) -> Work:
        x = repeat_rows(self.x_ref, restarts)
        # per-pixel bounds of delta: the [0, 1] box, intersected with the eps-box under L-inf,
        # so that each step's projection is one clamp rather than five passes over the batch
        lo, hi = -x, 1 - x
        if self.norm == "linf":
            lo, hi = lo.clamp_min(-self.eps), hi.clamp_max(self.eps)
        return {"x": x, "y": repeat_rows(self.y, restarts), "lo": lo, "hi": hi}

    def init(self, work: Work, generator: Optional[torch.Generator]) -> torch.Tensor:
        x = work["x"]
        if not self.random_init:
            return torch.zeros_like(x)
        delta = random_start(tuple(x.shape), self.eps, self.norm, generator, x.device, x.dtype, self.start)
        return self.project(delta, work)

    def image(self, var: torch.Tensor, work: Work) -> torch.Tensor:
        return work["x"] + var  # var is kept projected, so this stays in [0, 1]

    def project(self, var: torch.Tensor, work: Work) -> torch.Tensor:
        """Eq. 18 then the box, as raysweep.attacks.norms.project (clamping to -eps..eps and then
        to -x..1-x is clamping to their intersection)."""
        if self.norm == "l2":
            var = project_ball(var, self.eps, "l2")
        return torch.clamp(var, work["lo"], work["hi"])

    def objective(self, logits: torch.Tensor, var: torch.Tensor, x_adv: torch.Tensor, work: Work) -> torch.Tensor:
        return cross_entropy_objective(logits, work["y"])

    def latent_norm(self, var: torch.Tensor) -> None:
        return None


class PGDAttack(Attack):
    """Adam-PGD in image space (see the module docstring)."""

    config: PGDConfig

    def problem(self, batch: Batch, manifold: Any) -> ImageProblem:
        return ImageProblem(batch, self.config.eps, self.config.norm, self.config.random_start, self.config.start)


def adversarial_examples(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float = 0.3, norm: str = "linf",
                         iterations: int = 40, lr: float = 0.005, step: str = "adam",
                         generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Adversarial-training examples: all iterations, the highest-loss iterate per sample, one
    restart, no records. The model is attacked in eval mode and left in its previous mode."""
    config = build_config(PGDConfig, "pgd", dict(eps=eps, norm=norm, iterations=iterations, lr=lr, step=step, restarts=1))
    return PGDAttack("pgd", config).examples(model, Batch(x, y), generator=generator)


register_attack("linf", PGDAttack, PGDConfig, None, "regular", "L-inf Adam-PGD, eps 0.3 (Eq. 1)", eps=0.3, norm="linf")
register_attack("l2", PGDAttack, PGDConfig, None, "regular", "L2 Adam-PGD, eps 1.5 (supplement Eq. 17-19)", eps=1.5, norm="l2")
