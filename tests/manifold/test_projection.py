"""The latent projection's restarts (raysweep.manifold.projection_latent): examples that lie on
the manifold must measure near 0 even when their code is far from the start (Sec. 3.2, Eq. 10)."""
import math

import pytest
import torch

from raysweep.manifold.projection_latent import LatentProjectionConfig, box_points, latent_projection, screened_starts


class RingManifold:
    """dec(z) = a narrow bump at angle z on a ring of 64 pixels: a one-start local search from an
    angle far away sees no gradient (the bumps do not overlap), the textbook multimodal latent."""

    latent_dim = 1

    def __init__(self):
        self.lower, self.upper = torch.tensor([-math.pi]), torch.tensor([math.pi])
        self.angles = torch.linspace(-math.pi, math.pi, 65)[:-1]

    def decode(self, z, ctx=None):
        d = torch.remainder(self.angles[None] - z[:, :1] + math.pi, 2 * math.pi) - math.pi  # [B, 64]
        return torch.exp(-(d / 0.15) ** 2).view(-1, 1, 8, 8)

    def to(self, device):
        return self


def test_box_points_cover_the_box_and_are_seeded():
    m = RingManifold()
    a, b = box_points(m, 64, 3, torch.device("cpu")), box_points(m, 64, 3, torch.device("cpu"))
    assert torch.equal(a, b) and a.shape == (64, 1)
    assert a.min() >= -math.pi and a.max() <= math.pi
    assert torch.histc(a, bins=8, min=-math.pi, max=math.pi).min() >= 6  # spread, not clumped


def test_starts_keep_the_test_code_first():
    m = RingManifold()
    z0 = torch.tensor([[0.5], [-2.0]])
    starts = screened_starts(m, m.decode(z0), z0, None, LatentProjectionConfig(restarts=4, candidates=32))
    assert starts.shape == (8, 1) and torch.equal(starts.view(2, 4, 1)[:, 0], z0)


def test_one_start_gets_stuck_and_restarts_find_the_manifold():
    """Negative control (the paper's single start) and the fix, on examples exactly on the manifold."""
    m = RingManifold()
    z_true = torch.linspace(-2.5, 2.5, 12).view(-1, 1)
    x_on = m.decode(z_true)
    z0 = z_true + 2.0  # the test image's code, far from the example's
    one = latent_projection(m, x_on, z0, None, LatentProjectionConfig(restarts=1))
    many = latent_projection(m, x_on, z0, None, LatentProjectionConfig())
    assert (one.distance > 1.0).float().mean() > 0.5  # stuck: it measures far from the manifold
    assert many.distance.max() < 0.05


def test_restarts_never_measure_farther_than_the_single_start():
    m = RingManifold()
    z = torch.linspace(-3, 3, 10).view(-1, 1)
    x_off = m.decode(z) + 0.3 * torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    one = latent_projection(m, x_off, z, None, LatentProjectionConfig(restarts=1)).distance
    many = latent_projection(m, x_off, z, None, LatentProjectionConfig()).distance
    assert (many <= one + 1e-5).all()


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="restarts"):
        LatentProjectionConfig(restarts=0)


def test_true_onmanifold_examples_measure_near_zero_on_real_fonts(tmp_path):
    """The control behind claim 1 (Sec. 3.2): theta moved to corners of the eta = 0.3 ball, as the
    on-manifold attack leaves it; the single start leaves a third of them far from the manifold."""
    from raysweep.data import load_dataset
    from raysweep.manifold.distance import DISTANCES
    from raysweep.manifold.true import TrueManifold

    ds = load_dataset("fonts", max_fonts=2, train_size=100, test_size=60, cache_dir=str(tmp_path))
    m = TrueManifold.from_dataset(ds)
    b = ds.test.batch(torch.arange(60), torch.device("cpu"))
    zeta = 0.3 * torch.sign(torch.rand(b.z.shape, generator=torch.Generator().manual_seed(0)) - 0.5)
    x_on = m.decode(torch.minimum(torch.maximum(b.z + zeta, m.lower), m.upper), b.ctx)
    one = DISTANCES.build("true", restarts=1)(x_on, b, manifold=m).distance
    many = DISTANCES.build("true")(x_on, b, manifold=m).distance
    assert (one > 0.5).float().mean() > 0.15
    assert (many > 0.5).float().mean() <= 0.05 and many.median() < 0.1
