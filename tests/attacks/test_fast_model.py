"""The attack copy of a model (raysweep.attacks.fast_model): the same logits and input gradients
as the model for every registered family, the caller's model untouched, and the same attack
records as attacking the model itself."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import raysweep.attacks.base as base
from raysweep.attacks import ATTACKS
from raysweep.attacks.fast_model import _InputGradConv2d, attack_model
from raysweep.data.batch import Batch
from raysweep.models import MODELS, build_model

BUILT_IN = [e.name for e in MODELS if e.factory.__module__.startswith("raysweep.")]


def trained_bn(name: str, shape: tuple[int, int, int]) -> nn.Module:
    """A model whose BatchNorm statistics and affine parameters are far from the identity."""
    model = build_model(name, shape, 10, seed=0)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.5, 2.0, generator=g)
                m.bias.uniform_(-0.5, 0.5, generator=g)
        model.train()
        for _ in range(3):
            model(torch.rand(16, *shape, generator=g))
    return model.eval()


def input_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    logits = model(x)
    (grad,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), x)
    return logits.detach(), grad


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)], ids=["1x28x28", "3x32x32"])
@pytest.mark.parametrize("name", BUILT_IN)
def test_same_logits_and_input_gradient_as_float64(name, shape):
    model = trained_bn(name, shape)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = attack_model(model)
    assert fast is not model
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in fast.modules())  # all folded
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(24, *shape, generator=g), torch.randint(0, 10, (24,), generator=g)
    ref_logits, ref_grad = input_grad(model.double(), x.double(), y)  # float64 reference
    model.float()
    logits, grad = input_grad(fast, x, y)
    assert torch.allclose(logits.double(), ref_logits, atol=1e-5, rtol=1e-4)
    # loose, and in norm: a ReLU (or max-pool) whose input is within rounding of a kink switches
    # between float32 and float64, or between two float32 summation orders, so the model's own
    # float32 gradient is up to ~2e-3 off here too; a wrong fold or backward is off by O(1)
    assert (grad.double() - ref_grad).norm() <= 1e-2 * ref_grad.norm()
    # the caller's model: same weights, still trainable
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())
    assert not any(p.requires_grad for p in fast.parameters())


@pytest.mark.parametrize("geometry", [(1, 16, 4, 2, 1, 28), (3, 8, 3, 1, 1, 17), (2, 4, 5, 3, 2, 20)])
def test_conv_input_gradient_by_col2im_equals_conv_backward_in_float64(geometry):
    c_in, c_out, k, stride, padding, size = geometry
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding)
    fast = _InputGradConv2d(conv)
    x = torch.randn(5, c_in, size, size, generator=torch.Generator().manual_seed(2))
    out = fast(x.requires_grad_(True))
    assert torch.allclose(out, conv(x), atol=1e-6)
    g_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(3))
    (grad,) = torch.autograd.grad(out, x, g_out)
    x64 = x.detach().double().requires_grad_(True)
    (ref,) = torch.autograd.grad(conv.double()(x64), x64, g_out.double())
    assert (grad.double() - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_cnn_rewrites_first_conv_and_merges_the_two_linear_layers():
    fast = attack_model(trained_bn("cnn", (1, 28, 28)))
    assert isinstance(fast.features[0], _InputGradConv2d)  # 1 x 4 x 4 fan-in: matmul + col2im
    assert type(fast.features[3]) is nn.Conv2d  # 16 x 4 x 4: oneDNN's backward
    assert sum(isinstance(m, nn.Linear) for m in fast.modules()) == 1


def test_models_with_hooks_or_nothing_to_rewrite_are_attacked_as_they_are():
    hooked = trained_bn("cnn", (1, 28, 28))
    hooked.features[1].register_forward_hook(lambda *a: None)
    assert attack_model(hooked) is hooked
    plain = nn.Sequential(nn.Flatten(), nn.Linear(36, 5), nn.ReLU(), nn.Linear(5, 3))
    assert attack_model(plain) is plain


@pytest.mark.parametrize("name", ["linf", "l2", "apgd_ce"])
def test_attack_records_equal_those_on_the_model_itself(name, monkeypatch):
    model = trained_bn("cnn", (1, 28, 28))
    g = torch.Generator().manual_seed(3)
    x = torch.rand(40, 1, 28, 28, generator=g)
    with torch.no_grad():
        batch = Batch(x, model(x).argmax(1))  # correctly classified, so success has to be found
    attack = ATTACKS.build(name, eps=0.01 if name != "l2" else 0.4, iterations=10, restarts=2)

    def records() -> dict[str, np.ndarray]:
        return attack(model, batch, generator=torch.Generator().manual_seed(0)).records

    fast = records()
    monkeypatch.setattr(base, "attack_model", lambda m: m)
    plain = records()
    assert 0 < fast["success"].sum() < len(fast["success"])  # a test that can tell them apart
    for column in ("sample", "restart", "clean_pred", "adv_pred", "success", "first_success_iter"):
        assert np.array_equal(fast[column], plain[column]), column
    for column in ("linf", "l2", "loss"):
        assert np.allclose(fast[column], plain[column], atol=1e-3), column  # APGD's steps amplify rounding
