"""The FONTS true decoder: (font, class, theta) -> 28x28 image (Sec. 3.1, supplement B.1).

A spatial transformer over fixed glyph prototypes, so the data manifold is known exactly and is
differentiable in theta: the true on-manifold attack, the true projection and on-true-manifold
adversarial training all optimise theta through this module.
"""
from __future__ import annotations

import torch
from torch import nn

from raysweep.data.transform import warp

OUT_SIZE = (28, 28)


class TrueDecoder(nn.Module):
    """dec(theta, ctx) = warp(prototype[font, class], theta), bilinear, clamped to [0,1].

    prototypes: float [F, 10, H, W] in [0,1], white glyph on black, rendered at a higher
    resolution than the output (56x56: see raysweep.data.transform on why 2x).
    """

    def __init__(self, prototypes: torch.Tensor, out_size: tuple[int, int] = OUT_SIZE):
        super().__init__()
        if prototypes.dim() != 4:
            raise ValueError(f"prototypes must be [F, classes, H, W], got {tuple(prototypes.shape)}")
        self.register_buffer("prototypes", prototypes.float())
        self.out_size = tuple(out_size)

    @property
    def n_fonts(self) -> int:
        return self.prototypes.shape[0]

    def forward(self, theta: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        """theta [B, 6], ctx [B, 2] int (font, class) -> images [B, 1, 28, 28] in theta's dtype."""
        glyphs = self.prototypes[ctx[:, 0], ctx[:, 1]].unsqueeze(1)  # [B, 1, H, W]
        return warp(glyphs.to(theta.dtype), theta, self.out_size)

    @torch.no_grad()
    def render_uint8(self, theta: torch.Tensor, ctx: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """Generate a whole split as uint8 [N, 1, 28, 28] in chunks (bounded memory, no autograd)."""
        out = torch.empty((theta.shape[0], 1, *self.out_size), dtype=torch.uint8)
        device = self.prototypes.device
        for start in range(0, theta.shape[0], chunk):
            sl = slice(start, start + chunk)
            x = self(theta[sl].to(device), ctx[sl].to(device))
            out[sl] = x.mul_(255.0).round_().to(torch.uint8).cpu()
        return out
