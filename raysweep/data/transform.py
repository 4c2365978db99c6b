"""Affine transformations of FONTS (supplement B.1, Eq. 6): theta -> 2x3 matrix -> warped image.

theta = (tx, ty, shear_x, shear_y, scale, rotation), in the normalised [-1, 1] coordinates of
`torch.nn.functional.grid_sample`. The matrix is an *inverse* warp: it maps each output pixel to
the input location it is read from (the spatial-transformer convention the paper used).

align_corners=False throughout: -1 and 1 are the outer edges of the image, so a theta means the
same geometry at every resolution. That is what lets prototypes be rendered at 56x56 and sampled
to 28x28: at the identity each output pixel lands exactly between four prototype pixels and
bilinear sampling equals 2x2 area averaging (an anti-aliased downsample). PyTorch 0.4, used by
the authors, behaved like align_corners=True; at 28x28 the two differ by under half a pixel.

The attacks' transformation (STN) attack and the augmentation strategy reuse `warp`/`PRESETS`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from raysweep._core.errors import UserError

THETA_NAMES = ("tx", "ty", "shear_x", "shear_y", "scale", "rotation")
IDENTITY = (0.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass(frozen=True)
class Preset:
    """A box of transformations: theta is drawn uniformly between `lower` and `upper`."""

    name: str
    lower: tuple[float, float, float, float, float, float]
    upper: tuple[float, float, float, float, float, float]

    def box(self, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        lo = torch.tensor(self.lower, device=device, dtype=dtype)
        hi = torch.tensor(self.upper, device=device, dtype=dtype)
        return lo, hi

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n thetas [n, 6] (float32), i.i.d. uniform in the box; reproducible for a seeded generator."""
        lo, hi = self.box(dtype=torch.float64)
        u = torch.rand(n, 6, generator=generator, dtype=torch.float64)
        return (lo + (hi - lo) * u).float()


def _symmetric(t: float, shear: float, scale: tuple[float, float], rot: float) -> Preset:
    return Preset("", (-t, -t, -shear, -shear, scale[0], -rot), (t, t, shear, shear, scale[1], rot))


# Ranges from the reference document (hard is the paper's Sec. 3.1 setting and the default).
PRESETS: dict[str, Preset] = {
    name: Preset(name, p.lower, p.upper)
    for name, p in {
        "easy": _symmetric(0.1, 0.2, (0.9, 1.1), math.pi / 6),
        "moderate": _symmetric(0.2, 0.4, (0.85, 1.15), math.pi / 3),
        "hard": _symmetric(0.2, 0.5, (0.75, 1.15), math.pi / 2),
    }.items()
}
DEFAULT_PRESET = "hard"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


def identity_theta(n: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """[n, 6] copies of the identity transformation (0, 0, 0, 0, 1, 0)."""
    return torch.tensor(IDENTITY, device=device, dtype=dtype).expand(n, 6).clone()


def theta_to_matrix(theta: torch.Tensor) -> torch.Tensor:
    """Supplement Eq. (6): theta [B, 6] -> affine matrices [B, 2, 3]; differentiable.

    a00 = s(cos r - shx sin r), a01 = s(-sin r + shx cos r), a02 = tx
    a10 = s(shy cos r + sin r), a11 = s(-shy sin r + cos r), a12 = ty
    """
    tx, ty, shx, shy, s, r = theta.unbind(dim=1)
    cos, sin = torch.cos(r), torch.sin(r)
    row0 = torch.stack([s * (cos - shx * sin), s * (-sin + shx * cos), tx], dim=1)
    row1 = torch.stack([s * (shy * cos + sin), s * (-shy * sin + cos), ty], dim=1)
    return torch.stack([row0, row1], dim=1)


def affine_grid(matrix: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    """Sampling grid [B, H, W, 2] of `matrix` [B, 2, 3]; equals F.affine_grid(align_corners=False).

    Written as one broadcast add of two small tensors because F.affine_grid is several times slower on CPU,
    which alone would cap FONTS generation below its 50k images/s target.
    """
    h, w = out_size
    kw = dict(device=matrix.device, dtype=matrix.dtype)
    xs = (torch.arange(w, **kw) * 2 + 1) / w - 1  # pixel centres in [-1, 1]
    ys = (torch.arange(h, **kw) * 2 + 1) / h - 1
    cols = xs[None, None, :, None] * matrix[:, None, None, :, 0] + matrix[:, None, None, :, 2]  # [B, 1, W, 2]
    rows = ys[None, :, None, None] * matrix[:, None, None, :, 1]  # [B, H, 1, 2]
    return cols + rows  # [B, H, W, 2]: the only full-size operation


def warp(images: torch.Tensor, theta: torch.Tensor, out_size: Optional[tuple[int, int]] = None) -> torch.Tensor:
    """Apply theta [B, 6] to images [B, C, H, W]: bilinear sampling, zero padding, clamp to [0,1].

    out_size defaults to the input size; differentiable in theta and images.
    """
    size = tuple(out_size) if out_size is not None else tuple(images.shape[-2:])
    grid = affine_grid(theta_to_matrix(theta.to(images.dtype)), size)  # type: ignore[arg-type]
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.clamp(0.0, 1.0)
