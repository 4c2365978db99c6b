"""VAE-GAN on one FONTS class, judged against the true manifold (supplement B.2, C)."""
import math

import pytest
import torch

from raysweep.data import load_dataset
from raysweep.manifold.projection_latent import LatentProjectionConfig, true_projection
from raysweep.manifold.lambda_objective import QualityConfig, fonts_quality
from raysweep.manifold.true import TrueManifold
from raysweep.vaegan.config import VAEGANConfig
from raysweep.vaegan.fit import train_vaegan


@pytest.fixture(scope="module")
def fonts(tmp_path_factory):
    cache = tmp_path_factory.mktemp("fonts-cache")
    return load_dataset("fonts", train_size=6000, test_size=400, max_fonts=6, cache_dir=str(cache))


def one_class(split, c):
    return split.subset(torch.nonzero(split.y == c).squeeze(1))


def test_losses_fall_on_a_fonts_class_and_the_model_is_near_the_true_manifold(fonts):
    train, test = one_class(fonts.train, 0), one_class(fonts.test, 0)
    cfg = VAEGANConfig(width=0.25, epochs=12, batch_size=50)  # 600 images: 144 steps
    history = []
    model, _ = train_vaegan(train, cfg, seed=0, on_epoch=lambda e, m, s: history.append(m))
    assert history[-1]["l1"] < 0.6 * history[0]["l1"]
    assert history[-1]["loss_dec"] < history[0]["loss_dec"]

    quality = fonts_quality(model, TrueManifold.from_dataset(fonts), train, test,
                            QualityConfig(n_samples=40, projection=LatentProjectionConfig(iters=30)))
    assert all(math.isfinite(v) and v >= 0 for v in quality.values())
    # Reconstructions of held-out letters lie closer to the true manifold than uniform noise does.
    noise = torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    batch = test.batch(torch.arange(40))
    noise_d = true_projection(TrueManifold.from_dataset(fonts), noise, batch.z, batch.ctx, LatentProjectionConfig(iters=30)).distance
    assert quality["reconstruction_distance"] < 0.5 * noise_d.mean()


def test_true_projection_recovers_a_fonts_image_from_a_displaced_theta(fonts):
    true = TrueManifold.from_dataset(fonts)
    batch = fonts.test.batch(torch.arange(16))
    x = true.decode(batch.z, batch.ctx)
    start = batch.z + 0.05 * torch.randn(16, 6, generator=torch.Generator().manual_seed(1))
    before = (true.decode(start, batch.ctx) - x).flatten(1).norm(dim=1)
    proj = true_projection(true, x, start, batch.ctx)
    assert proj.distance.median() < 0.2 * before.median()


def test_true_projection_keeps_theta_in_the_preset_box(fonts):
    """Images rendered outside the box (rotation past the hard preset's pi/2, scale below 0.75)
    project onto the manifold, i.e. inside the box, even though an unconstrained Adam run would
    follow them out; latent_projection without the clamp does leave it."""
    true = TrueManifold.from_dataset(fonts)
    batch = fonts.test.batch(torch.arange(12))
    outside = batch.z.clone()
    outside[:6, 5] = true.upper[5] + 0.6  # rotation
    outside[6:, 4] = true.lower[4] - 0.2  # scale
    x = true.decode(outside, batch.ctx)
    start = outside.clamp(true.lower, true.upper)
    cfg = LatentProjectionConfig(iters=40, restarts=2, candidates=16)
    proj = true_projection(true, x, start, batch.ctx, cfg)
    assert ((proj.z >= true.lower - 1e-6) & (proj.z <= true.upper + 1e-6)).all()
    from raysweep.manifold.projection_latent import latent_projection

    free = latent_projection(true, x, start, batch.ctx, cfg).z
    assert ((free < true.lower - 1e-3) | (free > true.upper + 1e-3)).any()
