"""Posterior collapse: a VAE-GAN whose decoder ignores z, and the restart that replaces it.

Found while reproducing Fig. 5 with learned manifolds: with the paper's settings (lr 0.005, 10 epochs) on the bundled fonts (2,208
images per class, 22 steps an epoch against the paper's ~960), some (class, seed) pairs collapse
in the first epochs: the discriminator wins, the decoder draws one fixed glyph from its bias, the
KL term then pulls every code to 0, and all reconstructions are one image (class G, seed 0:
a latent step of eta = 0.3 moved the image by 0.007 in L2, against 0.5-1.6 for seeds 1 and 2).
An on-manifold attack on such a model searches a single point, so its numbers mean nothing.

Collapse is a training failure with a clear signature, not a quality level: reconstructions of
different images are (nearly) the same image. `reconstruction_diversity` measures it scale-free,
as the mean pairwise L2 distance between reconstructions over that between the images
(measured: the ten paper-size FONTS class models at lr 0.001, 0.82-0.93; class G's collapsed one
at lr 0.005, 0.024 after epoch 1 and 0.001 after epoch 3). `fit_job` retrains a collapsed model with the
next attempt's seed, up to VAEGANConfig.restarts times, and records the attempts.
"""
from __future__ import annotations

import torch

from raysweep.vaegan.network import VAEGAN

# Far from both measured groups (collapsed <= 0.024, healthy >= 0.82): see the module docstring.
MIN_DIVERSITY = 0.25
PROBE_IMAGES = 256  # images the check reconstructs (a seeded subset of the training images)
ATTEMPT_SEED_STRIDE = 1_000  # attempt k trains with seed + k * stride (attempt 0: the job's seed)


def attempt_seed(seed: int, attempt: int) -> int:
    return int(seed) + ATTEMPT_SEED_STRIDE * int(attempt)


def attempt_of(seed: int, used_seed: int) -> int:
    """Which attempt trained with `used_seed` (the inverse of attempt_seed)."""
    return (int(used_seed) - int(seed)) // ATTEMPT_SEED_STRIDE


def _mean_pairwise(x: torch.Tensor) -> torch.Tensor:
    flat = x.flatten(1).double()
    d = torch.cdist(flat, flat)
    n = flat.shape[0]
    return d.sum() / max(n * (n - 1), 1)


@torch.no_grad()
def reconstruction_diversity(model: VAEGAN, images: torch.Tensor, seed: int = 0) -> float:
    """Mean pairwise ||dec(mu(x_i)) - dec(mu(x_j))||_2 over mean pairwise ||x_i - x_j||_2, on a
    seeded subset of `images` (uint8 or float [N, C, H, W]); eval mode, restored afterwards.
    1: reconstructions are as varied as the images; 0: one image for every input (collapse)."""
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    rows = torch.randperm(images.shape[0], generator=g)[:PROBE_IMAGES]
    x = images[rows.to(images.device)].to(device)
    x = x.float().div(255.0) if x.dtype == torch.uint8 else x.float()
    if x.shape[0] < 2:
        return 1.0  # nothing to compare: no evidence of collapse
    was = model.training
    model.eval()
    rec = model(x)
    model.train(was)
    spread = _mean_pairwise(x)
    return float(_mean_pairwise(rec) / spread) if spread > 0 else 1.0


def collapsed(diversity: float) -> bool:
    return diversity < MIN_DIVERSITY
