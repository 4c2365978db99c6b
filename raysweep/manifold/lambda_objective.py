"""How well a VAE-GAN approximates a manifold: the objectives of the lambda search
(`raysweep tune-lambda`, supplement B.2's lambda per class).

Reconstruction alone rewards a large lambda that ignores the prior, so each objective also
scores samples dec(z), z ~ N(0, I):
- FONTS (true manifold known): mean distance to the true manifold of decoded prior samples and
  of reconstructions dec(mu(x)) of held-out images, each measured by true projection (Eq. 10).
  Reconstructions start from the held-out image's own (theta, font, class); prior samples start
  from their nearest training image of the class (its theta and font), since the font is
  discrete and cannot be optimised.
- Other data sets: held-out L1 reconstruction error (mean per pixel) plus the Frechet distance
  between features of held-out images and of prior samples in a classifier's feature space
  (FID's formula with the data set's own classifier in place of Inception).
Lower is better for every number returned here; `combined` is the single objective.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from raysweep.data.batch import Split
from raysweep.manifold.base import Manifold
from raysweep.manifold.projection_knn import nearest_neighbours
from raysweep.manifold.projection_latent import LatentProjectionConfig, true_projection
from raysweep.vaegan.network import VAEGAN

Features = Callable[[torch.Tensor], torch.Tensor]  # images [B, C, H, W] -> features [B, F]


@dataclass(frozen=True)
class QualityConfig:
    n_samples: int = 500  # prior samples and held-out images scored
    batch_size: int = 250
    frechet_weight: float = 0.1  # combined = l1 + frechet_weight * frechet (both lower-better)
    projection: LatentProjectionConfig = LatentProjectionConfig()


def prior_samples(model: VAEGAN, n: int, seed: int) -> torch.Tensor:
    """dec(z), z ~ N(0, I), from a seeded CPU generator; eval mode, no grad."""
    device = next(model.decoder.parameters()).device
    z = torch.randn(n, model.arch.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    was = model.training
    model.eval()
    with torch.no_grad():
        out = model.decoder(z)
    model.train(was)
    return out


def reconstructions(model: VAEGAN, x: torch.Tensor, batch_size: int = 250) -> torch.Tensor:
    """dec(mu(x)) in eval mode, batched."""
    was = model.training
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])
    model.train(was)
    return out


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """||m_a - m_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussian fits of rows of a, b.

    Tr((S_a S_b)^(1/2)) = sum sqrt(eig(S_a^(1/2) S_b S_a^(1/2))), a symmetric PSD matrix, so
    eigh suffices (float64).
    """
    a, b = a.double(), b.double()
    ma, mb = a.mean(0), b.mean(0)
    sa, sb = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    ev, evec = torch.linalg.eigh(sa)
    root_a = evec @ torch.diag(ev.clamp_min(0).sqrt()) @ evec.T
    cross = torch.linalg.eigvalsh(root_a @ sb @ root_a).clamp_min(0).sqrt().sum()
    return float((ma - mb).pow(2).sum() + torch.trace(sa) + torch.trace(sb) - 2 * cross)


def _batched_features(features: Features, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([features(x[i : i + batch_size]).flatten(1) for i in range(0, x.shape[0], batch_size)])


def learned_quality(
    model: VAEGAN, held_out: torch.Tensor, features: Features, cfg: QualityConfig = QualityConfig(), seed: int = 0
) -> dict[str, float]:
    """EMNIST / F-MNIST / CelebA objective. held_out: float images [N, C, H, W] on the model's device."""
    x = held_out[: cfg.n_samples]
    l1 = float((reconstructions(model, x, cfg.batch_size) - x).abs().mean())
    samples = prior_samples(model, x.shape[0], seed)
    fd = frechet_distance(_batched_features(features, x, cfg.batch_size), _batched_features(features, samples, cfg.batch_size))
    return {"l1": l1, "frechet": fd, "combined": l1 + cfg.frechet_weight * fd}


def _true_distance(true: Manifold, x: torch.Tensor, z0: torch.Tensor, ctx: torch.Tensor, cfg: QualityConfig) -> torch.Tensor:
    dists = [
        true_projection(true, x[i : i + cfg.batch_size], z0[i : i + cfg.batch_size], ctx[i : i + cfg.batch_size], cfg.projection).distance
        for i in range(0, x.shape[0], cfg.batch_size)
    ]
    return torch.cat(dists)


def fonts_quality(
    model: VAEGAN,
    true: Manifold,
    train: Split,
    held_out: Split,
    cfg: QualityConfig = QualityConfig(),
    seed: int = 0,
) -> dict[str, float]:
    """FONTS objective for a VAE-GAN of the classes in `train`/`held_out` (pass one class's rows
    for a class-specific model). Splits carry z = theta and ctx = (font, class)."""
    if train.z is None or train.ctx is None or held_out.z is None or held_out.ctx is None:
        raise ValueError("fonts_quality needs FONTS splits with z (theta) and ctx (font, class)")
    device = next(model.decoder.parameters()).device
    test = held_out.batch(torch.arange(min(cfg.n_samples, len(held_out))), device)
    rec = reconstructions(model, test.x, cfg.batch_size)
    d_rec = _true_distance(true, rec, test.z, test.ctx, cfg)

    samples = prior_samples(model, test.x.shape[0], seed)
    nn = nearest_neighbours(samples.flatten(1), train.x.flatten(1), k=1).squeeze(1).cpu()
    d_prior = _true_distance(true, samples, train.z[nn].to(device), train.ctx[nn].to(device), cfg)
    prior, recon = float(d_prior.mean()), float(d_rec.mean())
    return {"prior_distance": prior, "reconstruction_distance": recon, "combined": prior + recon}
