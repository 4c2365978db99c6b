"""Norm-specific pieces every attack shares, as small pure functions (supplement Eq. 18-19).

Perturbations are tensors whose first dimension is the row (sample x restart); norms are taken
over everything else. Supported norms: "linf" and "l2".
"""
from __future__ import annotations

from typing import Optional

import torch

from raysweep._core.errors import UserError

NORMS = ("linf", "l2")


def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise UserError(f"unknown attack norm {norm!r}; use one of: {', '.join(NORMS)}")
    return norm


def row_norm(t: torch.Tensor, norm: str) -> torch.Tensor:
    """||t_i|| per row i: [N, ...] -> [N]."""
    flat = t.flatten(1)
    if norm == "linf":
        return flat.abs().amax(dim=1) if flat.shape[1] else flat.new_zeros(flat.shape[0])
    if norm == "l2":
        return flat.norm(dim=1)
    if norm == "l1":
        return flat.abs().sum(dim=1)
    raise ValueError(f"unknown norm {norm!r}")


def _per_row(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape [N] to broadcast against [N, ...]."""
    return values.view(-1, *([1] * (like.dim() - 1)))


START_KINDS = ("paper", "box", "sphere")


def random_start(
    shape: tuple[int, ...],
    eps: float,
    norm: str,
    generator: Optional[torch.Generator],
    device: torch.device | str,
    dtype: torch.dtype = torch.float32,
    kind: str = "paper",
) -> torch.Tensor:
    """A random perturbation per row, [N, ...], inside the eps-ball (not yet clipped to the box).

    kind "paper" (the default, supplement Eq. 19): delta = u * eps * d / ||d||, d ~ N(0, I),
    u ~ U(0, 1), one u per row: uniform over distance and direction, not over the ball's
    volume. Under L-inf most coordinates then sit far inside the ball (|d_i| / max|d| is
    about 1/3 for 784 pixels), so the start is close to x.
    kind "box": uniform in the ball's volume, foolbox's and Madry et al.'s start: L-inf
    delta_i ~ U(-eps, eps) independently; L2 a uniform direction at radius eps * u^(1/n).
    kind "sphere": APGD's start (Croce & Hein 2020): on the ball's surface, L-inf
    eps * t / max|t| with t_i ~ U(-1, 1), L2 eps * d / ||d||_2 with d ~ N(0, I).
    Numbers are drawn on the generator's device, so a seeded CPU generator gives the same start
    on CPU and GPU.
    """
    if kind not in START_KINDS:
        raise UserError(f"unknown random start {kind!r}; use one of: {', '.join(START_KINDS)}")
    gen_device = generator.device if generator is not None else torch.device("cpu")
    box_linf = kind in ("box", "sphere") and norm == "linf"
    if box_linf:
        d = torch.rand(shape, generator=generator, device=gen_device, dtype=torch.float32) * 2 - 1
    else:
        d = torch.randn(shape, generator=generator, device=gen_device, dtype=torch.float32)
    if kind == "box" and norm == "linf":
        return (d * eps).to(device=device, dtype=dtype)
    if kind == "sphere":
        u = torch.ones(shape[0], device=gen_device)
    else:
        u = torch.rand(shape[0], generator=generator, device=gen_device, dtype=torch.float32)
        if kind == "box":  # L2 ball volume: P(r <= s) = (s / eps)^n
            u = u.pow(1.0 / max(1, d[0].numel()))
    scale = u * eps / row_norm(d, norm).clamp_min(1e-12)
    return (d * _per_row(scale, d)).to(device=device, dtype=dtype)


def project_ball(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project each row onto the eps-ball: clipping for L-inf, Eq. 18 rescaling for L2."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    factor = (eps / row_norm(delta, "l2").clamp_min(1e-12)).clamp(max=1.0)
    return delta * _per_row(factor, delta)


def project_box(
    delta: torch.Tensor, centre: torch.Tensor, lower: float | torch.Tensor, upper: float | torch.Tensor
) -> torch.Tensor:
    """Shift delta so that centre + delta lies in [lower, upper] (images: [0, 1]).

    With the centre inside the box this only shrinks each coordinate's magnitude, so a delta
    already inside the eps-ball stays inside it (any norm): ball first, then box is exact.
    """
    return torch.minimum(torch.maximum(centre + delta, torch.as_tensor(lower).to(delta)),
                         torch.as_tensor(upper).to(delta)) - centre


def project(
    delta: torch.Tensor, centre: torch.Tensor, eps: float, norm: str,
    lower: float | torch.Tensor = 0.0, upper: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """Eq. 18 then the box: the projection every step and every random start goes through."""
    return project_box(project_ball(delta, eps, norm), centre, lower, upper)


def image_norms(delta: torch.Tensor) -> dict[str, torch.Tensor]:
    """L-inf, L2 and L1 norms of image-space perturbations, as record columns."""
    return {"linf": row_norm(delta, "linf"), "l2": row_norm(delta, "l2"), "l1": row_norm(delta, "l1")}
