"""The FONTS true decoder: (font, class, theta) -> 28x28 image (Sec. 3.1, supplement B.1).

A spatial transformer over fixed glyph prototypes, so the data manifold is known exactly and is
differentiable in theta: the true on-manifold attack, the true projection and on-true-manifold
adversarial training all optimise theta through this module.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from raysweep.data.transform import affine_grid, theta_to_matrix, warp

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
        """Generate a whole split as uint8 [N, 1, 28, 28], same pixels as forward() rounded.

        Rows are grouped by glyph so grid_sample reads each prototype in place, with the glyph's
        transformations stacked as one tall output image, instead of first copying a 56x56
        prototype per row (a gather that costs more than the sampling). Memory stays bounded by
        processing about `chunk` rows at a time.
        """
        n_glyphs, h, w = self.prototypes.shape[0] * self.prototypes.shape[1], *self.out_size
        device = self.prototypes.device
        glyph = (ctx[:, 0] * self.prototypes.shape[1] + ctx[:, 1]).to(device)
        order = torch.argsort(glyph, stable=True)
        counts = torch.bincount(glyph, minlength=n_glyphs)
        starts = torch.cumsum(counts, 0) - counts
        slot = torch.arange(len(glyph), device=device) - starts[glyph[order]]  # rank within glyph
        rows = torch.full((n_glyphs, int(counts.max())), -1, dtype=torch.long, device=device)
        rows[glyph[order], slot] = order  # rows[g, k]: the k-th row showing glyph g, -1 if none
        thetas = torch.zeros(*rows.shape, 6, dtype=torch.float32, device=device)
        thetas[glyph[order], slot] = theta.to(device, torch.float32)[order]
        protos = self.prototypes.reshape(n_glyphs, 1, *self.prototypes.shape[2:])

        out = torch.empty((len(glyph), 1, h, w), dtype=torch.uint8, device=device)
        step = max(1, chunk // n_glyphs)
        for k0 in range(0, rows.shape[1], step):
            r, t = rows[:, k0 : k0 + step], thetas[:, k0 : k0 + step]
            grid = affine_grid(theta_to_matrix(t.reshape(-1, 6)), (h, w))  # [G*k, H, W, 2]
            grid = grid.reshape(n_glyphs, -1, w, 2)  # [G, k*H, W, 2]: a glyph's images stacked
            x = F.grid_sample(protos, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            x = x.clamp_(0, 1).mul_(255).round_().to(torch.uint8).view(n_glyphs, -1, 1, h, w)
            keep = r >= 0
            out[r[keep]] = x[keep]
        return out.cpu()
