"""What one attack optimises: a variable per row, how it becomes an image, its constraint set.

The loop (raysweep.attacks.loop) is the same for every attack; a Problem supplies the parts that
differ (image-space delta, latent zeta, transformation t, CW's omega). Per-row context lives in
a dict of tensors (`work`) whose first dimension is the row; the loop compacts it together with
the variable when rows finish, so a Problem never sees finished rows.
"""
from __future__ import annotations

from typing import Optional, Protocol

import torch
import torch.nn.functional as F

Work = dict[str, torch.Tensor]


class Problem(Protocol):
    x_ref: torch.Tensor  # [B, C, H, W] clean reference image (image attacks: x; latent: dec(z))
    y: torch.Tensor  # [B] true labels
    valid: torch.Tensor  # [B] bool; False rows are not attacked (e.g. latent code out of bound)

    def rows(self, restarts: int) -> Work:
        """Per-row context for restarts stacked into the batch: row r*B + b is restart r of b."""
        ...

    def init(self, work: Work, generator: Optional[torch.Generator]) -> torch.Tensor:
        """Starting variable [N, ...] (random start, already projected)."""
        ...

    def image(self, var: torch.Tensor, work: Work) -> torch.Tensor:
        """Adversarial images [N, C, H, W] in [0,1]; differentiable in var."""
        ...

    def project(self, var: torch.Tensor, work: Work) -> torch.Tensor:
        """Variable projected back onto the constraint set (called without grad)."""
        ...

    def objective(self, logits: torch.Tensor, var: torch.Tensor, x_adv: torch.Tensor, work: Work) -> torch.Tensor:
        """Per-row value the attack maximises, [N]."""
        ...

    def latent_norm(self, var: torch.Tensor) -> Optional[torch.Tensor]:
        """Per-row norm of the latent perturbation, or None for image-space attacks."""
        ...


def cross_entropy_objective(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Eq. 1 / supplement Eq. 17: the cross-entropy with the true label, maximised."""
    return F.cross_entropy(logits, y, reduction="none")


def repeat_rows(t: torch.Tensor, restarts: int) -> torch.Tensor:
    """[B, ...] -> [restarts * B, ...], restart-major (row r*B + b)."""
    return t.repeat(restarts, *([1] * (t.dim() - 1)))
