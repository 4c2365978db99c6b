"""Codes outside the learned attack's [-2, 2]^d bound (Sec. 3.3, supplement E): clamp or exclude,
both counts reported, and which choice keeps the share of counted samples independent of N.

The model has a known answer. A class VAE-GAN (the real ClassManifold) whose encoder mean is
written in the image and whose decoder draws a grey image of intensity 1 - 0.35 ||z||_inf: codes
inside the bound decode to bright images (>= 0.475), a clamped code (||z||_inf = 2) to a dim,
"blurred" one (0.3). Two classifiers stand for a small-N and a large-N model: both read bright
images, only the better one reads the dim starts (threshold 0.4 against 0.2). Half the samples
start outside the bound.
"""
import pytest
import torch
from torch import nn

from raysweep.attacks import ATTACKS
from raysweep.data.batch import Batch
from raysweep.manifold.learned import ClassManifold
from raysweep.vaegan.network import VAEGAN, VAEGANArch


class _Encoder(nn.Module):
    """mu = the first two pixels of row 0, mapped from [0, 1] to [-4, 4]."""

    def forward(self, x):
        mu = x[:, 0, 0, :2] * 8 - 4
        return mu, torch.zeros_like(mu)


class _Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1, 1)  # ClassManifold.device reads decoder.fc

    def forward(self, z):
        level = 1 - 0.35 * z.abs().amax(dim=1)  # [B]
        return level[:, None, None, None].expand(-1, 1, 28, 28).contiguous()


class _Reader(nn.Module):
    """Says class 0 when the image is brighter than its threshold, else class 1."""

    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold
        self.scale = nn.Parameter(torch.tensor(50.0))

    def forward(self, x):
        s = x.flatten(1).mean(1, keepdim=True) - self.threshold
        return torch.cat([s * self.scale, torch.zeros_like(s)], dim=1)


SMALL_N, LARGE_N = 0.4, 0.2  # reading thresholds: the better model reads dimmer starts


def _manifold(outside: str) -> ClassManifold:
    vae = VAEGAN(VAEGANArch((1, 28, 28), latent_dim=2, width=0.125), with_discriminator=False)
    vae.encoder, vae.decoder = _Encoder(), _Decoder()
    return ClassManifold({0: vae}, outside=outside)


def _batch(n=200) -> Batch:
    """n images of class 0; the first half encode to mu inside [-1.5, 1.5]^2, the rest to a
    coordinate at +-3 (outside the bound)."""
    g = torch.Generator().manual_seed(0)
    mu = torch.rand(n, 2, generator=g) * 3 - 1.5
    mu[n // 2:, 0] = torch.where(torch.arange(n - n // 2) % 2 == 0, 3.0, -3.0)
    x = torch.zeros(n, 1, 28, 28)
    x[:, 0, 0, :2] = (mu + 4) / 8
    return Batch(x, torch.zeros(n, dtype=torch.long))


def _attack(model, outside: str):
    attack = ATTACKS.build("onmanifold_class", iterations=5, restarts=2)
    return attack(model, _batch(), manifold=_manifold(outside), generator=torch.Generator().manual_seed(1))


def counted_share(result) -> float:
    """Share of attacked samples that enter the success rate (correct on the start, valid)."""
    m = result.metrics()
    return m["n_correct"] / m["n_samples"]


@pytest.mark.parametrize("outside", ["clamp", "exclude"])
def test_both_counts_are_reported(outside):
    counts = _attack(_Reader(LARGE_N), outside).bound_counts()
    assert counts["n_outside_bound"] == 100
    assert (counts["n_clamped"], counts["n_excluded"]) == ((100, 0) if outside == "clamp" else (0, 100))


def test_clamping_lets_the_counted_share_follow_N_and_excluding_does_not():
    """The selection effect: under clamp the better model counts the dim starts too (share 0.5
    for the small-N model against 1.0), under exclude both count the same half (0.5 and 0.5)."""
    share = {(o, t): counted_share(_attack(_Reader(t), o)) for o in ("clamp", "exclude") for t in (SMALL_N, LARGE_N)}
    assert share[("clamp", SMALL_N)] == pytest.approx(0.5) and share[("clamp", LARGE_N)] == pytest.approx(1.0)
    assert share[("exclude", SMALL_N)] == share[("exclude", LARGE_N)] == pytest.approx(0.5)


def test_image_space_attacks_mark_no_sample_outside():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 2))
    x = torch.rand(6, 1, 28, 28)
    result = ATTACKS.build("linf", iterations=2, restarts=1)(model, Batch(x, torch.zeros(6, dtype=torch.long)))
    assert not result.records["outside_bound"].any()
    assert result.bound_counts() == {"n_outside_bound": 0, "n_clamped": 0, "n_excluded": 0}
