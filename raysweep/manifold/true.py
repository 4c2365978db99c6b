"""The true FONTS manifold (Sec. 3.1 / 3.2): the TrueDecoder over the preset's theta box.

z = theta [B, 6] (tx, ty, shear_x, shear_y, scale, rotation), ctx = (font, class) [B, 2] held
fixed. Every FONTS sample lies on it by construction, so every code is valid; on-manifold
attacks optimise z + zeta inside [lower, upper] (the preset's ranges, ours; the original used
the min/max of the test thetas).
"""
from __future__ import annotations

from typing import Optional

import torch

from raysweep.data.batch import Batch
from raysweep.data.dataset import Dataset
from raysweep.data.decoder import TrueDecoder
from raysweep._core.errors import UserError


class TrueManifold:
    """Implements raysweep.manifold.base.Manifold for FONTS."""

    latent_dim = 6

    def __init__(self, decoder: TrueDecoder, lower: torch.Tensor, upper: torch.Tensor):
        self.decoder = decoder.eval()
        self.lower = torch.as_tensor(lower, dtype=torch.float32)
        self.upper = torch.as_tensor(upper, dtype=torch.float32)

    @classmethod
    def from_dataset(cls, ds: Dataset) -> "TrueManifold":
        """Build from a FONTS Dataset's meta (prototypes and theta box)."""
        if "prototypes" not in ds.meta:
            raise UserError(f"data set {ds.name!r} has no true manifold; true-manifold attacks and strategies need fonts")
        return cls.from_meta(ds.meta)

    @classmethod
    def from_meta(cls, meta: dict) -> "TrueManifold":
        """Build from the meta entries TrueDecoder needs (what a manifold actor ships)."""
        return cls(TrueDecoder(meta["prototypes"]), torch.tensor(meta["theta_lower"]), torch.tensor(meta["theta_upper"]))

    def codes(self, batch: Batch) -> tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
        if batch.z is None or batch.ctx is None:
            raise ValueError("the true manifold needs batches with z (theta) and ctx (font, class)")
        valid = torch.ones(len(batch), dtype=torch.bool, device=batch.z.device)
        return batch.z, batch.ctx, valid

    def decode(self, z: torch.Tensor, ctx: Optional[torch.Tensor]) -> torch.Tensor:
        if ctx is None:
            raise ValueError("the true manifold decodes with ctx = (font, class)")
        return self.decoder(z, ctx.to(self.decoder.prototypes.device))

    def to(self, device: torch.device | str) -> "TrueManifold":
        self.decoder = self.decoder.to(device)
        self.lower, self.upper = self.lower.to(device), self.upper.to(device)
        return self
