"""Carlini-Wagner L2 attack (supplement Eq. 20-21).

Minimise F(x~, y) + lambda * ||x~ - x||_2 over omega with x~ = (tanh(omega) + 1) / 2 (so x~ is
always in [0, 1]), F = max(-kappa, l_y - max_{y' != y} l_y'), kappa 1.5, lambda 1, 120 Adam
iterations with lr 0.005, no binary search over lambda, 1 restart. The max over the other
classes masks the true class with -inf: the authors' (and torchattacks') 0 picks 0 as the
"best other logit" when all logits are negative. Shapes: x [B, C, H, W].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from raysweep.attacks.base import Attack, AttackConfig
from raysweep.attacks.norms import project, random_start, row_norm
from raysweep.attacks.problem import Work, repeat_rows
from raysweep.attacks.registry import register_attack
from raysweep.data.batch import Batch

_TANH_LIMIT = 1 - 1e-6  # atanh(+-1) is infinite; images at exactly 0 or 1 start just inside


@dataclass(frozen=True)
class CWConfig(AttackConfig):
    kappa: float = 1.5
    lam: float = 1.0  # weight of ||delta||_2 (the paper's lambda)
    init_eps: float = 0.0  # radius of an optional L2 random start (Eq. 19); 0 starts at x


def cw_margin(logits: torch.Tensor, y: torch.Tensor, kappa: float) -> torch.Tensor:
    """Eq. 20: max(-kappa, l_y - max_{j != y} l_j) per row; the true class is masked with -inf."""
    true_logit = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.masked_fill(torch.nn.functional.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    return (true_logit - others.amax(dim=1)).clamp(min=-kappa)


class CWProblem:
    """omega in tanh space; no projection needed, the reparameterisation keeps x~ in [0, 1]."""

    def __init__(self, batch: Batch, config: CWConfig):
        self.x_ref, self.y = batch.x, batch.y
        self.valid = torch.ones_like(batch.y, dtype=torch.bool)
        self.config = config

    def rows(self, restarts: int) -> Work:
        return {"x": repeat_rows(self.x_ref, restarts), "y": repeat_rows(self.y, restarts)}

    def init(self, work: Work, generator: Optional[torch.Generator]) -> torch.Tensor:
        x = work["x"]
        if self.config.init_eps > 0:
            delta = random_start(tuple(x.shape), self.config.init_eps, "l2", generator, x.device, x.dtype)
            x = x + project(delta, x, self.config.init_eps, "l2")
        return torch.atanh((2 * x - 1).clamp(-_TANH_LIMIT, _TANH_LIMIT))

    def image(self, var: torch.Tensor, work: Work) -> torch.Tensor:
        return (torch.tanh(var) + 1) / 2

    def project(self, var: torch.Tensor, work: Work) -> torch.Tensor:
        return var

    def objective(self, logits: torch.Tensor, var: torch.Tensor, x_adv: torch.Tensor, work: Work) -> torch.Tensor:
        # Eq. 21, negated because the loop maximises
        distance = row_norm(x_adv - work["x"], "l2")
        return -(cw_margin(logits, work["y"], self.config.kappa) + self.config.lam * distance)

    def latent_norm(self, var: torch.Tensor) -> None:
        return None


class CWAttack(Attack):
    """Carlini-Wagner L2 (see the module docstring)."""

    config: CWConfig

    def problem(self, batch: Batch, manifold: Any) -> CWProblem:
        return CWProblem(batch, self.config)


register_attack("cw", CWAttack, CWConfig, None, "regular", "Carlini-Wagner L2, kappa 1.5, 120 its (supplement Eq. 20-21)",
                iterations=120, restarts=1)
