"""The random starts (raysweep.attacks.norms.random_start): the paper's (supplement Eq. 19) stays
the default and is bit-for-bit what it was; "box" is uniform in the ball's volume (foolbox's);
"sphere" lies on the ball's surface (APGD's). Every kind stays inside the eps-ball."""
from __future__ import annotations

import pytest
import torch

from raysweep.attacks import ATTACKS
from raysweep.attacks.norms import START_KINDS, random_start, row_norm
from raysweep._core.errors import UserError

SHAPE = (2000, 1, 28, 28)


def draw(kind: str, norm: str, eps: float = 0.3) -> torch.Tensor:
    return random_start(SHAPE, eps, norm, torch.Generator().manual_seed(0), "cpu", kind=kind)


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("kind", START_KINDS)
def test_every_start_is_inside_the_ball(kind, norm):
    assert float(row_norm(draw(kind, norm), norm).max()) <= 0.3 + 1e-6


def test_paper_start_is_the_default_and_unchanged():
    # Eq. 19 as before: d ~ N(0, I) first, then one u ~ U(0, 1) per row, in that order
    g = torch.Generator().manual_seed(0)
    d = torch.randn(SHAPE, generator=g)
    u = torch.rand(SHAPE[0], generator=g)
    expected = d * (u * 0.3 / d.flatten(1).abs().amax(1)).view(-1, 1, 1, 1)
    assert torch.equal(random_start(SHAPE, 0.3, "linf", torch.Generator().manual_seed(0), "cpu"), expected)
    assert ATTACKS.build("linf").config.start == "paper"


def test_box_start_fills_the_linf_box_and_the_paper_start_does_not():
    box, paper = draw("box", "linf"), draw("paper", "linf")
    # uniform in [-eps, eps]: mean |delta_i| = eps / 2; Eq. 19 keeps pixels near x (u * eps / ~3.4)
    assert abs(float(box.abs().mean()) - 0.15) < 0.005
    assert float(paper.abs().mean()) < 0.05
    radii = row_norm(draw("box", "l2"), "l2") / 0.3  # volume-uniform: P(r <= s) = s^784, all near 1
    assert float(radii.min()) > 0.98


def test_sphere_start_is_on_the_surface():
    for norm in ("linf", "l2"):
        assert torch.allclose(row_norm(draw("sphere", norm), norm), torch.full((SHAPE[0],), 0.3), atol=1e-5)


def test_unknown_start_is_a_user_error():
    with pytest.raises(UserError, match="random start"):
        ATTACKS.build("linf", start="gaussian")
