"""Affine transformations of FONTS (supplement Eq. 6) and the transformation presets."""
import math

import pytest
import torch
import torch.nn.functional as F

from raysweep.data.transform import (IDENTITY, PRESETS, affine_grid, get_preset, identity_theta, theta_to_matrix,
                                     warp)
from raysweep._core.errors import UserError


def test_identity_theta_gives_identity_matrix():
    m = theta_to_matrix(identity_theta(3))
    assert torch.allclose(m, torch.eye(2, 3).expand(3, 2, 3))


def test_matrix_matches_eq6_known_answer():
    tx, ty, shx, shy, s, r = 0.1, -0.2, 0.3, -0.4, 1.1, 0.7
    m = theta_to_matrix(torch.tensor([[tx, ty, shx, shy, s, r]], dtype=torch.float64))[0]
    c, si = math.cos(r), math.sin(r)
    expect = torch.tensor([[s * (c - shx * si), s * (-si + shx * c), tx],
                           [s * (shy * c + si), s * (-shy * si + c), ty]], dtype=torch.float64)
    assert torch.allclose(m, expect)


def test_pure_rotation_is_orthonormal():
    theta = torch.tensor([[0, 0, 0, 0, 1, 0.9]])
    a = theta_to_matrix(theta)[0, :, :2]
    assert torch.allclose(a @ a.T, torch.eye(2), atol=1e-6)


def test_affine_grid_equals_torch_affine_grid():
    g = torch.Generator().manual_seed(0)
    theta = PRESETS["hard"].sample(16, g)
    m = theta_to_matrix(theta)
    for size in [(28, 28), (56, 48)]:
        ours = affine_grid(m, size)
        ref = F.affine_grid(m, (16, 1, *size), align_corners=False)
        assert torch.allclose(ours, ref, atol=1e-6)


def test_warp_identity_is_exact_and_translation_moves_content():
    img = torch.zeros(1, 1, 28, 28)
    img[0, 0, 10:14, 10:14] = 1.0
    assert torch.equal(warp(img, identity_theta(1)), img)
    # inverse warp: output pixel (x, y) reads input at x + tx; tx = 4 pixels = 8/28 normalised
    moved = warp(img, torch.tensor([[8 / 28, 0, 0, 0, 1, 0]]))
    assert torch.allclose(moved[0, 0, 10:14, 6:10], torch.ones(4, 4), atol=1e-5)
    assert moved.min() >= 0 and moved.max() <= 1


def test_warp_out_size_resamples():
    img = torch.rand(2, 3, 56, 56)
    out = warp(img, identity_theta(2), (28, 28))
    assert torch.allclose(out, F.avg_pool2d(img, 2), atol=1e-6)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_sample_inside_box_and_reproducibly(name):
    p = PRESETS[name]
    lo, hi = p.box()
    assert torch.all(lo < hi) and lo[4] <= IDENTITY[4] <= hi[4]
    a = p.sample(1000, torch.Generator().manual_seed(3))
    b = p.sample(1000, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.all(a >= lo) and torch.all(a <= hi)


def test_hard_preset_is_the_papers_ranges():
    p = PRESETS["hard"]
    assert p.lower == pytest.approx((-0.2, -0.2, -0.5, -0.5, 0.75, -math.pi / 2))
    assert p.upper == pytest.approx((0.2, 0.2, 0.5, 0.5, 1.15, math.pi / 2))


def test_unknown_preset_is_user_error():
    with pytest.raises(UserError, match="easy, moderate, hard"):
        get_preset("extreme")
