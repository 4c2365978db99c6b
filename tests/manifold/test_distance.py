"""Distances to the manifold (Sec. 3.2, supplement C): latent projection, kNN subspace, registry."""
import math

import pytest
import torch

from raysweep.data.batch import Batch
from raysweep._core.errors import UserError
from raysweep.manifold.distance import DISTANCES
from raysweep.manifold.projection_knn import knn_projection, nearest_neighbours, subspace_residual
from raysweep.manifold.projection_latent import LatentProjectionConfig, latent_projection, true_projection


class LinearManifold:
    """dec(z) = A z + b with orthonormal columns A [D, d]: the projection is known in closed form."""

    def __init__(self, d: int = 4, shape=(1, 6, 6), seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        D = math.prod(shape)
        self.A, _ = torch.linalg.qr(torch.randn(D, d, generator=g))  # [D, d]
        self.b = torch.rand(D, generator=g)
        self.shape, self.latent_dim = shape, d
        self.lower, self.upper = torch.full((d,), -3.0), torch.full((d,), 3.0)

    def decode(self, z, ctx=None):
        return (z @ self.A.T + self.b).view(-1, *self.shape)

    def codes(self, batch):
        z = (batch.x.flatten(1) - self.b) @ self.A
        return z, None, torch.ones(len(batch), dtype=torch.bool)

    def to(self, device):
        return self

    def orthogonal(self, n: int, norm: float, seed: int = 1) -> torch.Tensor:
        """Random perturbations of the given norm orthogonal to the column space of A."""
        p = torch.randn(n, self.A.shape[0], generator=torch.Generator().manual_seed(seed))
        p = p - (p @ self.A) @ self.A.T
        return (norm * p / p.norm(dim=1, keepdim=True)).view(n, *self.shape)


def test_projection_of_a_decoder_output_is_at_distance_zero():
    m = LinearManifold()
    z = torch.rand(8, 4) * 2 - 1
    x = m.decode(z)
    start = z + 0.5 * torch.randn(8, 4, generator=torch.Generator().manual_seed(2))  # really optimise
    proj = true_projection(m, x, start, None)
    assert proj.distance.max() < 0.02
    assert torch.allclose(proj.images, x, atol=0.02)


def test_orthogonal_perturbation_is_at_distance_its_norm():
    m = LinearManifold()
    z = torch.rand(8, 4) * 2 - 1
    norms = torch.linspace(0.1, 2.0, 8)
    x_adv = m.decode(z) + m.orthogonal(8, 1.0) * norms.view(-1, 1, 1, 1)
    start = z + 0.3 * torch.randn(8, 4, generator=torch.Generator().manual_seed(3))
    proj = latent_projection(m, x_adv, start, None)
    assert torch.allclose(proj.distance, norms, atol=0.02)


def test_batched_projection_equals_one_by_one():
    m = LinearManifold()
    z = torch.rand(4, 4)
    x_adv = m.decode(z) + m.orthogonal(4, 0.5)
    start = z + 0.4
    cfg = LatentProjectionConfig(iters=20)
    together = latent_projection(m, x_adv, start, None, cfg).distance
    alone = torch.cat([latent_projection(m, x_adv[i : i + 1], start[i : i + 1], None, cfg).distance for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-5)


def test_clamped_projection_stays_in_the_box():
    m = LinearManifold()
    x = m.decode(torch.full((2, 4), 5.0))  # decoded outside the box [-3, 3]
    proj = latent_projection(m, x, torch.zeros(2, 4), None, LatentProjectionConfig(clamp_to_box=True))
    assert proj.z.abs().max() <= 3.0 + 1e-6 and proj.distance.min() > 1.0


def test_nearest_neighbours_are_exact_across_chunks():
    g = torch.Generator().manual_seed(0)
    train = (torch.rand(700, 20, generator=g) * 255).to(torch.uint8)
    q = torch.rand(9, 20, generator=g)
    got = nearest_neighbours(q, train, k=7, chunk=64)
    want = torch.cdist(q, train.float() / 255).topk(7, largest=False).indices
    assert torch.equal(got.sort(1).values, want.sort(1).values)


@pytest.mark.parametrize("center", ["clean", "mean"])
def test_knn_residual_is_zero_inside_the_span_and_positive_off_it(center):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 1, 5, 5, generator=g)
    # Ten training images close to each test image, the rest far away: the neighbours are known.
    near = x.repeat_interleave(10, 0) + 0.05 * torch.randn(30, 1, 5, 5, generator=g)
    train = torch.cat([near, 3.0 + torch.rand(90, 1, 5, 5, generator=g)])
    nbrs = near.flatten(1).view(3, 10, -1)
    centre = x.flatten(1)[:, None] if center == "clean" else nbrs.mean(1, keepdim=True)
    coef = torch.randn(3, 1, 10, generator=g) * 0.1
    x_in = x + (coef @ (nbrs - centre)).view_as(x)  # delta in the span of the centred neighbours
    res = knn_projection(x_in, x, train, k=10, center=center)
    assert torch.equal(res.neighbours.sort(1).values, torch.arange(30).view(3, 10))
    assert (res.delta_l2 > 0.01).all() and res.residual.max() < 1e-4 * res.delta_l2.min()
    # 25-d images, 10 neighbours: a random delta keeps part of its norm, never more than all of it.
    x_adv = x + 0.01 * torch.randn(3, 1, 5, 5, generator=g)
    res = knn_projection(x_adv, x, train, k=10, center=center)
    assert (res.residual <= res.delta_l2 + 1e-6).all() and (res.residual > 0.1 * res.delta_l2).all()


def test_subspace_residual_known_answers():
    basis = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0], [1.0, 1.0, 0]]])  # rank 2: the xy plane
    assert torch.allclose(subspace_residual(torch.tensor([[3.0, -2.0, 0]]), basis), torch.zeros(1), atol=1e-6)
    assert torch.allclose(subspace_residual(torch.tensor([[3.0, -2.0, 4.0]]), basis), torch.tensor([4.0]))


def test_knn_bad_inputs():
    x = torch.rand(2, 1, 4, 4)
    with pytest.raises(UserError, match="centre"):
        knn_projection(x, x, torch.rand(60, 1, 4, 4), center="median")
    with pytest.raises(UserError, match="at least k"):
        knn_projection(x, x, torch.rand(5, 1, 4, 4))


@pytest.mark.parametrize("name", sorted(DISTANCES.names()))
def test_every_registered_distance_measures_an_orthogonal_perturbation(name):
    m = LinearManifold()
    z = torch.rand(3, 4) * 2 - 1
    x = m.decode(z)
    x_adv = x + m.orthogonal(3, 0.7)
    batch = Batch(x, torch.zeros(3, dtype=torch.long), z=z, ctx=None)
    # Training images on the manifold near x: kNN sees a plane the perturbation is orthogonal to.
    train = m.decode(z.repeat(40, 1) + 0.3 * torch.randn(120, 4, generator=torch.Generator().manual_seed(5)))
    need = DISTANCES.get(name).needs
    kw = {"train_images": train} if need == "train" else {"manifold": m}
    dist = DISTANCES.build(name, **({"k": 10} if need == "train" else {}))
    out = dist(x_adv, batch, **kw)
    assert torch.allclose(out.delta_l2, torch.full((3,), 0.7), atol=1e-5)
    assert torch.allclose(out.distance, torch.full((3,), 0.7), atol=0.02)


def test_distance_without_what_it_needs_is_a_user_error():
    x = torch.rand(2, 1, 6, 6)
    with pytest.raises(UserError, match="manifold"):
        DISTANCES.build("true")(x, Batch(x, torch.zeros(2, dtype=torch.long)))
    with pytest.raises(UserError, match="training images"):
        DISTANCES.build("knn")(x, Batch(x, torch.zeros(2, dtype=torch.long)))
