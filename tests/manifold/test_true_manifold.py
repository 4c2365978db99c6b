"""The true FONTS manifold behind the Manifold protocol."""
import pytest
import torch

from raysweep.data.batch import Split
from raysweep.data.dataset import Dataset
from raysweep.data.decoder import TrueDecoder
from raysweep.data.transform import PRESETS
from raysweep._core.errors import UserError
from raysweep.manifold.base import Manifold
from raysweep.manifold.true import TrueManifold


def _fonts_like(n=20):
    g = torch.Generator().manual_seed(0)
    protos = torch.rand(2, 10, 56, 56, generator=g)
    z = PRESETS["hard"].sample(n, g)
    ctx = torch.stack([torch.randint(0, 2, (n,), generator=g), torch.randint(0, 10, (n,), generator=g)], 1)
    x = TrueDecoder(protos).render_uint8(z, ctx)
    split = Split(x=x, y=ctx[:, 1].clone(), z=z, ctx=ctx)
    meta = {"prototypes": protos, "theta_lower": list(PRESETS["hard"].lower), "theta_upper": list(PRESETS["hard"].upper)}
    return Dataset("fonts", split, split, 10, "h", meta)


def test_implements_the_protocol_and_reproduces_the_data():
    ds = _fonts_like()
    m = TrueManifold.from_dataset(ds)
    assert isinstance(m, Manifold) and m.latent_dim == 6
    batch = ds.test.batch()
    z, ctx, valid = m.codes(batch)
    assert valid.all() and torch.equal(z, batch.z)
    assert torch.all(m.lower <= z) and torch.all(z <= m.upper)
    assert (m.decode(z, ctx) - batch.x).abs().max() <= 0.5 / 255 + 1e-6  # only uint8 rounding


def test_decode_is_differentiable_in_z():
    ds = _fonts_like(4)
    m = TrueManifold.from_dataset(ds)
    z = ds.test.z.clone().requires_grad_(True)
    m.decode(z, ds.test.ctx).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_real_data_sets_have_no_true_manifold():
    ds = _fonts_like()
    ds.meta = {}
    with pytest.raises(UserError, match="no true manifold"):
        TrueManifold.from_dataset(ds)
