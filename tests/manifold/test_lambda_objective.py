"""Lambda-search objectives: Frechet distance and the learned-manifold quality score."""
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from raysweep.manifold.lambda_objective import QualityConfig, frechet_distance, learned_quality, prior_samples
from raysweep.vaegan.config import VAEGANConfig
from raysweep.vaegan.fit import build_vaegan


def test_frechet_distance_matches_scipy_and_is_zero_on_identical_sets():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 6, generator=g)
    b = 1.5 * torch.randn(400, 6, generator=g) + 0.3
    A, B = a.double().numpy(), b.double().numpy()
    s1, s2 = np.cov(A.T), np.cov(B.T)
    want = ((A.mean(0) - B.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(a, b) == pytest.approx(want, rel=1e-6)
    assert abs(frechet_distance(a, a)) < 1e-6


def test_learned_quality_scores_and_prior_samples_are_seeded():
    model = build_vaegan(VAEGANConfig(width=0.125), seed=0)
    assert torch.equal(prior_samples(model, 4, seed=1), prior_samples(model, 4, seed=1))
    assert model.training  # the helpers restore the mode they found
    proj = torch.randn(784, 8, generator=torch.Generator().manual_seed(2))
    held = torch.rand(60, 1, 28, 28)
    q = learned_quality(model, held, lambda x: x.flatten(1) @ proj, QualityConfig(n_samples=50, batch_size=20))
    assert all(math.isfinite(v) for v in q.values()) and q["l1"] > 0 and q["frechet"] > 0
    assert q["combined"] == pytest.approx(q["l1"] + 0.1 * q["frechet"])
