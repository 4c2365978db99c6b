"""Projection onto a manifold through its decoder (Eq. 10, supplement C): optimise the latent.

pi(x_adv) = dec(z*), z* = argmin_z ||x_adv - dec(z)||_2^2 with the context (font and class on
FONTS, the class for class VAE-GANs) fixed. Adam, lr 0.09 decayed by 0.95 every 10 iterations,
100 iterations, started from the test image's code (theta on FONTS; the authors had this step
disabled and used the clean image as the "projection", ours really optimises).

Restarts (ours): one start from the test image's code is a local search, and the FONTS latent
is multimodal in rotation and scale: an on-manifold example whose theta moved far from the test
image's gets stuck, and measures far from a manifold it lies on (18.5% of the demo's true
on-manifold examples measured more than 0.5 away). So `candidates` codes spread over the
manifold's box (a scrambled Sobol sequence, seeded) are screened by their distance, and Adam
runs from the test image's code plus the `restarts - 1` best screened codes; each example keeps
the best iterate of all its runs. The same projection, with the same restarts, measures every
example, regular or on-manifold, so the two stay comparable.

Batched: the loss is a sum of per-example losses and Adam acts per coordinate, so every
(example, restart) row follows exactly the path it would follow alone.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
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
    restarts: int = 8  # Adam runs per example: the test image's code + the best screened codes (ours)
    candidates: int = 256  # codes spread over the box, screened by distance to pick the restarts
    screen_rows: int = 8192  # decodes per screening chunk; bounds memory (65536 cost 1.2 GB at FONTS-1000)
    seed: int = 0  # the Sobol scramble: the same starts for every example and every run

    def __post_init__(self) -> None:
        if self.restarts < 1 or self.iters < 0 or self.candidates < 0:
            raise ValueError("projection needs restarts >= 1, iters >= 0 and candidates >= 0")


@dataclass
class Projection:
    """pi(x_adv) [B, C, H, W], its code z [B, d], and ||x_adv - pi(x_adv)||_2 per example [B]."""

    images: torch.Tensor
    z: torch.Tensor
    distance: torch.Tensor


def _per_example_sq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).flatten(1).pow(2).sum(1)


def _rows(t: Optional[torch.Tensor], k: int) -> Optional[torch.Tensor]:
    """[B, ...] -> [B * k, ...], example-major (row b * k + j is start j of example b)."""
    return None if t is None else t.repeat_interleave(k, dim=0)


def box_points(manifold: Manifold, n: int, seed: int, device: torch.device) -> torch.Tensor:
    """n codes [n, d] spread over [manifold.lower, manifold.upper] (scrambled Sobol, seeded)."""
    lower = manifold.lower.to(device, torch.float32)
    upper = manifold.upper.to(device, torch.float32)
    u = torch.quasirandom.SobolEngine(lower.numel(), scramble=True, seed=seed).draw(n).to(device)  # [n, d]
    return lower + u * (upper - lower)


@torch.no_grad()
def screened_starts(manifold: Manifold, x_adv: torch.Tensor, z0: torch.Tensor, ctx: Optional[torch.Tensor],
                    cfg: LatentProjectionConfig) -> torch.Tensor:
    """Starts [B * restarts, d]: per example z0 first, then its restarts - 1 closest box codes."""
    b, k = z0.shape[0], cfg.restarts
    if k == 1 or cfg.candidates == 0:
        return _rows(z0.float(), k)
    pts = box_points(manifold, cfg.candidates, cfg.seed, z0.device)  # [M, d]
    m = pts.shape[0]
    d2 = torch.empty(b, m, device=z0.device)
    per = max(1, cfg.screen_rows // m)  # examples per chunk
    for s in range(0, b, per):
        e = min(b, s + per)
        z = pts.repeat(e - s, 1)  # [(e - s) * M, d], example-major
        img = manifold.decode(z, _rows(ctx[s:e], m) if ctx is not None else None)
        d2[s:e] = _per_example_sq(img, _rows(x_adv[s:e], m)).view(e - s, m)
    best = d2.topk(min(k - 1, m), dim=1, largest=False).indices  # [B, k - 1]
    starts = torch.cat([z0.float().unsqueeze(1), pts[best]], dim=1)  # [B, <= k, d]
    if starts.shape[1] < k:  # fewer candidates than restarts: repeat the test image's code
        starts = torch.cat([starts, z0.float().unsqueeze(1).expand(-1, k - starts.shape[1], -1)], dim=1)
    return starts.reshape(b * k, -1)


def _adam_projection(manifold: Manifold, target: torch.Tensor, z0: torch.Tensor, ctx: Optional[torch.Tensor],
                     cfg: LatentProjectionConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """One Adam run per row from z0; (best code [R, d], best squared distance [R])."""
    z = z0.detach().clone().float().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.decay_every, gamma=cfg.decay)
    best_z = z.detach().clone()
    best_d = torch.full((z.shape[0],), float("inf"), device=z.device)
    for it in range(cfg.iters + 1):  # the last pass only evaluates the final iterate
        opt.zero_grad(set_to_none=True)
        d2 = _per_example_sq(manifold.decode(z, ctx), target)  # [R]
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
    return best_z, best_d


def latent_projection(
    manifold: Manifold,
    x_adv: torch.Tensor,
    z0: torch.Tensor,
    ctx: Optional[torch.Tensor],
    cfg: LatentProjectionConfig = LatentProjectionConfig(),
) -> Projection:
    """Minimise ||x_adv - manifold.decode(z, ctx)||_2^2 over z from z0 and the screened restarts
    (all tensors on one device); each example keeps its best run."""
    b, k = z0.shape[0], cfg.restarts
    target = x_adv.detach()
    starts = screened_starts(manifold, target, z0, ctx, cfg)  # [B * k, d]
    # Every restart runs the full schedule: racing them (keeping only the best after 20 or 40
    # steps) picked the wrong basin for 7% / 4% of true on-manifold examples, against 2.5%.
    best_z, best_d = _adam_projection(manifold, _rows(target, k), starts, _rows(ctx, k), cfg)
    pick = best_d.view(b, k).argmin(dim=1)  # [B]: the best run per example
    z = best_z.view(b, k, -1)[torch.arange(b, device=z0.device), pick]  # [B, d]
    with torch.no_grad():
        images = manifold.decode(z, ctx)
    return Projection(images, z, _per_example_sq(images, target).clamp_min(0).sqrt())


def true_projection(
    manifold: Manifold,
    x_adv: torch.Tensor,
    z0: torch.Tensor,
    ctx: torch.Tensor,
    cfg: LatentProjectionConfig = LatentProjectionConfig(),
) -> Projection:
    """Projection onto the FONTS true manifold: z = theta [B, 6], ctx = (font, class) [B, 2].

    theta stays inside the preset's box [manifold.lower, manifold.upper] whatever cfg says: the
    true manifold is the decoder's image of that box (every FONTS image was drawn from it), so
    a theta outside it (a rotation past pi/2, a scale below 0.75) is not on the manifold.
    """
    return latent_projection(manifold, x_adv, z0, ctx, replace(cfg, clamp_to_box=True))
