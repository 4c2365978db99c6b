"""The FONTS true decoder: differentiable in theta, exact at the identity."""
import torch
import torch.nn.functional as F

from raysweep.data.decoder import TrueDecoder
from raysweep.data.transform import PRESETS, identity_theta


def _smooth_prototypes(fonts=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    raw = torch.rand(fonts * 10, 1, 14, 14, generator=g)
    # upsampled noise: smooth, so finite differences are well defined away from the border
    smooth = F.interpolate(raw, size=(56, 56), mode="bilinear", align_corners=False)
    # a centred blob like a glyph: zero at the border (no kink from zero padding) and below 1
    # everywhere (no kink from the clamp), so finite differences are well defined
    r = torch.linspace(-1, 1, 56)
    window = torch.exp(-4 * (r[:, None] ** 2 + r[None, :] ** 2)) * (r[:, None].abs() < 0.8) * (r.abs() < 0.8)
    return (0.9 * smooth * window).view(fonts, 10, 56, 56)


def _codes(n, seed=1):
    g = torch.Generator().manual_seed(seed)
    theta = PRESETS["easy"].sample(n, g).double()
    ctx = torch.stack([torch.randint(0, 2, (n,), generator=g), torch.randint(0, 10, (n,), generator=g)], 1)
    return theta, ctx


def test_autograd_matches_finite_differences_in_theta():
    dec = TrueDecoder(_smooth_prototypes().double())
    theta, ctx = _codes(3)
    theta.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: dec(t, ctx), (theta,), eps=1e-6, atol=1e-4, rtol=1e-3)


def test_identity_reproduces_prototype_downsampled():
    protos = _smooth_prototypes()
    dec = TrueDecoder(protos)
    ctx = torch.tensor([[0, 3], [1, 7]])
    out = dec(identity_theta(2), ctx)
    expect = F.interpolate(protos[ctx[:, 0], ctx[:, 1]].unsqueeze(1), size=(28, 28), mode="area")
    assert out.shape == (2, 1, 28, 28)
    assert torch.allclose(out, expect, atol=1e-5)


def test_output_in_unit_range_and_render_uint8_matches_forward():
    dec = TrueDecoder(_smooth_prototypes())
    theta, ctx = _codes(50)
    x = dec(theta.float(), ctx)
    assert x.min() >= 0 and x.max() <= 1
    u8 = dec.render_uint8(theta.float(), ctx, chunk=7)
    assert u8.dtype == torch.uint8
    assert torch.equal(u8, (x * 255).round().to(torch.uint8))


def test_gradient_reaches_every_theta_component():
    dec = TrueDecoder(_smooth_prototypes())
    theta, ctx = _codes(4)
    theta = theta.float().requires_grad_(True)
    dec(theta, ctx).sum().backward()
    assert torch.all(theta.grad.abs().sum(0) > 0)
