"""Learned manifolds over VAE-GANs (ClassManifold, DataManifold) and the Manifold protocol."""
import pytest
import torch

from raysweep.data.batch import Batch
from raysweep.manifold.base import Manifold
from raysweep.manifold.learned import LATENT_BOUND, ClassManifold, DataManifold
from raysweep.vaegan.config import VAEGANConfig
from raysweep.vaegan.fit import build_vaegan
from raysweep.vaegan.network import serving_state_dict

CFG = VAEGANConfig(width=0.125)


def class_manifold(n_classes: int = 3) -> ClassManifold:
    # Distinct seeds: every class gets a different decoder, so picking the wrong one shows.
    return ClassManifold.from_state_dicts({c: serving_state_dict(build_vaegan(CFG, seed=c)) for c in range(n_classes)}, CFG)


def data_manifold() -> DataManifold:
    return DataManifold.from_state_dict(serving_state_dict(build_vaegan(CFG, seed=7)), CFG)


MANIFOLDS = {"class": class_manifold, "data": data_manifold}


@pytest.mark.parametrize("kind", sorted(MANIFOLDS))
def test_protocol_box_frozen_weights_and_gradient_in_z_only(kind):
    m = MANIFOLDS[kind]()
    assert isinstance(m, Manifold)
    assert m.latent_dim == 10
    assert torch.equal(m.lower, torch.full((10,), -LATENT_BOUND)) and torch.equal(m.upper, torch.full((10,), LATENT_BOUND))
    batch = Batch(torch.rand(6, 1, 28, 28), torch.tensor([0, 1, 2, 2, 1, 0]))
    z, ctx, valid = m.codes(batch)
    assert z.shape == (6, 10) and valid.dtype == torch.bool
    assert valid.all() and (z.abs() <= LATENT_BOUND).all()  # outside="clamp": codes clamped into the box
    mu = m.encode(batch.x, ctx) if kind == "class" else m.encode(batch.x)
    assert torch.equal(z, mu.clamp(-LATENT_BOUND, LATENT_BOUND))
    m.outside = "exclude"  # the former policy: codes as they are, outside ones invalid
    z_ex, _, valid_ex = m.codes(batch)
    assert torch.equal(z_ex, mu) and torch.equal(valid_ex, mu.abs().amax(1) <= LATENT_BOUND)
    m.outside = "clamp"
    assert (ctx is None) == (kind == "data")
    z = z.clone().requires_grad_(True)
    x = m.decode(z, ctx)
    assert x.shape == (6, 1, 28, 28) and x.min() >= 0 and x.max() <= 1
    x.sum().backward()
    assert z.grad is not None and z.grad.abs().sum(1).gt(0).all()
    models = m.models.values() if kind == "class" else [m.model]
    for model in models:
        assert not model.training and all(not p.requires_grad for p in model.parameters())


def test_class_manifold_picks_encoder_and_decoder_by_class():
    m = class_manifold()
    x = torch.rand(4, 1, 28, 28)
    labels = torch.tensor([2, 0, 1, 2])
    z, ctx, _ = m.codes(Batch(x, labels))
    out = m.decode(z, ctx)
    for i, c in enumerate(labels.tolist()):
        model = m.models[c]
        with torch.no_grad():
            mu = model.encoder(x[i : i + 1])[0]
            assert torch.allclose(z[i : i + 1], mu, atol=1e-6)
            assert torch.allclose(out[i : i + 1], model.decoder(mu), atol=1e-6)
    # A different class's decoder gives a different image from the same code.
    assert not torch.allclose(m.decode(z, torch.tensor([0, 1, 2, 0])), out)


def test_unknown_class_is_named():
    with pytest.raises(KeyError, match="class 5"):
        class_manifold(2).decode(torch.zeros(1, 10), torch.tensor([5]))


def test_state_dicts_with_discriminator_are_accepted():
    full = build_vaegan(CFG, seed=0).state_dict()
    m = ClassManifold.from_state_dicts({0: full}, CFG)
    assert m.models[0].discriminator is None


def test_class_routing_gradients_match_each_rows_own_decoder():
    """The sort/split routing (one host sync) is exact: every row's value and gradient w.r.t. its
    code are those of its own class's decoder, also for sparse class keys and an empty batch."""
    m = ClassManifold.from_state_dicts({c: serving_state_dict(build_vaegan(CFG, seed=c)) for c in (1, 4)}, CFG)
    labels = torch.tensor([4, 1, 1, 4, 4, 1, 4])
    z = torch.randn(7, 10, requires_grad=True)
    (grad,) = torch.autograd.grad(m.decode(z, labels).square().sum(), z)
    for i, c in enumerate(labels.tolist()):
        zi = z[i : i + 1].detach().requires_grad_(True)
        (gi,) = torch.autograd.grad(m.models[c].decoder(zi).square().sum(), zi)
        assert torch.allclose(grad[i : i + 1], gi, atol=1e-6)
    assert m.decode(torch.zeros(0, 10), torch.zeros(0, dtype=torch.long)).shape == (0, 1, 28, 28)
    assert m.encode(torch.zeros(0, 1, 28, 28), torch.zeros(0, dtype=torch.long)).shape == (0, 10)
