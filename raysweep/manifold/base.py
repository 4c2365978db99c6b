"""The one interface attacks, strategies and distances use for a manifold (Sec. 3.2 of the paper).

A manifold is a differentiable decoder dec(z, ctx) over a latent box. The FONTS true manifold
(z = theta, ctx = font and class) and learned VAE-GANs (z = encoder mean, ctx = class label for
class-specific models) both implement it, so no caller special-cases FONTS.
"""
from __future__ import annotations

from typing import Optional, Protocol, runtime_checkable

import torch

from raysweep.data.batch import Batch


@runtime_checkable
class Manifold(Protocol):
    latent_dim: int
    lower: torch.Tensor  # [latent_dim] lower corner of the box on z + zeta
    upper: torch.Tensor  # [latent_dim] upper corner

    def codes(self, batch: Batch) -> tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
        """Latent codes of a batch: (z [B, d], ctx or None, valid [B] bool).

        valid is False for samples whose code lies outside the box (learned manifolds: the
        paper's ||z||_inf <= 2 bound); callers exclude them and report how many.
        """
        ...

    def decode(self, z: torch.Tensor, ctx: Optional[torch.Tensor]) -> torch.Tensor:
        """Images [B, C, H, W] in [0,1] for codes z [B, d]; differentiable in z."""
        ...

    def to(self, device: torch.device | str) -> "Manifold":
        ...
