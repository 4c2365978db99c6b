"""Projection onto a manifold through its decoder (Eq. 10, supplement C): optimise the latent.

pi(x_adv) = dec(z*), z* = argmin_z ||x_adv - dec(z)||_2^2 with the context (font and class on
FONTS, the class for class VAE-GANs) fixed. Adam, lr 0.09 decayed by 0.95 every 10 iterations,
100 iterations, started from the test image's code (theta on FONTS; the authors had this step
disabled and used the clean image as the "projection", ours really optimises).

Batched: the loss is a sum of per-example losses and Adam acts per coordinate, so every example
follows exactly the path it would follow alone. Each example keeps its best iterate.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from raysweep.manifold.base import Manifold


@dataclass(frozen=True)
class LatentProjectionConfig:
    iters: int = 100
    lr: float = 0.09
    decay: float = 0.95  # lr factor ...
    decay_every: int = 10  # ... every this many iterations
    clamp_to_box: bool = False  # keep z in [manifold.lower, manifold.upper]; Eq. 10 is unconstrained


@dataclass
class Projection:
    """pi(x_adv) [B, C, H, W], its code z [B, d], and ||x_adv - pi(x_adv)||_2 per example [B]."""

    images: torch.Tensor
    z: torch.Tensor
    distance: torch.Tensor


def _per_example_sq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).flatten(1).pow(2).sum(1)


def latent_projection(
    manifold: Manifold,
    x_adv: torch.Tensor,
    z0: torch.Tensor,
    ctx: Optional[torch.Tensor],
    cfg: LatentProjectionConfig = LatentProjectionConfig(),
) -> Projection:
    """Minimise ||x_adv - manifold.decode(z, ctx)||_2^2 over z from z0 (all tensors on one device)."""
    target = x_adv.detach()
    z = z0.detach().clone().float().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.decay_every, gamma=cfg.decay)
    best_z = z.detach().clone()
    best_d = torch.full((z.shape[0],), float("inf"), device=z.device)
    for it in range(cfg.iters + 1):  # the last pass only evaluates the final iterate
        opt.zero_grad(set_to_none=True)
        d2 = _per_example_sq(manifold.decode(z, ctx), target)  # [B]
        better = d2.detach() < best_d
        best_d = torch.where(better, d2.detach(), best_d)
        best_z[better] = z.detach()[better]
        if it == cfg.iters:
            break
        d2.sum().backward()
        opt.step()
        sched.step()
        if cfg.clamp_to_box:
            with torch.no_grad():
                z.copy_(torch.max(torch.min(z, manifold.upper.to(z)), manifold.lower.to(z)))
    with torch.no_grad():
        images = manifold.decode(best_z, ctx)
    return Projection(images, best_z, best_d.clamp_min(0).sqrt())


def true_projection(
    manifold: Manifold,
    x_adv: torch.Tensor,
    z0: torch.Tensor,
    ctx: torch.Tensor,
    cfg: LatentProjectionConfig = LatentProjectionConfig(),
) -> Projection:
    """Projection onto the FONTS true manifold: z = theta [B, 6], ctx = (font, class) [B, 2]."""
    return latent_projection(manifold, x_adv, z0, ctx, cfg)


def learned_projection(
    manifold: Manifold,
    x_adv: torch.Tensor,
    ctx: Optional[torch.Tensor],
    z0: torch.Tensor,
    cfg: LatentProjectionConfig = LatentProjectionConfig(),
) -> Projection:
    """Projection onto a VAE-GAN manifold: z [B, 10] from the encoder mean, ctx = class or None."""
    return latent_projection(manifold, x_adv, z0, ctx, cfg)
