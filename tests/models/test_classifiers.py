"""Every registered classifier: shapes, finiteness, gradients to every parameter, seeding."""
import pytest
import torch

from raysweep._core.errors import UserError
from raysweep.models import MODELS, build_model

SHAPES = [(1, 28, 28), (3, 56, 48)]  # FONTS/EMNIST/F-MNIST, CelebA

# The families raysweep ships (an installed plugin adds its own entries, with their own options).
BUILT_IN = [e.name for e in MODELS if e.factory.__module__.startswith("raysweep.")]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", BUILT_IN)
def test_forward_shape_finite_and_every_parameter_gets_a_gradient(name, shape):
    n_classes = 10 if shape[0] == 1 else 2
    model = build_model(name, shape, n_classes, seed=0)
    x = torch.rand(4, *shape)
    logits = model(x)
    assert logits.shape == (4, n_classes)
    assert torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, torch.arange(4) % n_classes).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: {pname} gets no gradient"
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{name}: {pname} has an all-zero gradient"


@pytest.mark.parametrize("name", BUILT_IN)
def test_seed_fixes_initialisation_and_leaves_global_rng_alone(name):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = build_model(name, (1, 28, 28), 10, seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    b = build_model(name, (1, 28, 28), 10, seed=7)
    c = build_model(name, (1, 28, 28), 10, seed=8)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())


@pytest.mark.parametrize("name", BUILT_IN)
def test_width_multiplier_shrinks_the_model(name):
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(build_model(name, (1, 28, 28), 10, width=0.5)) < count(build_model(name, (1, 28, 28), 10))


def test_cnn_matches_the_paper_layout():
    """Sec. 3.1: three k4 s2 convs 16/32/64 on 28x28 (576 features), four on 56x48 CelebA."""
    convs = lambda m: [l for l in m.modules() if isinstance(l, torch.nn.Conv2d)]  # noqa: E731
    small = build_model("cnn", (1, 28, 28), 10)
    assert [c.out_channels for c in convs(small)] == [16, 32, 64]
    linears = [l for l in small.modules() if isinstance(l, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(576, 100), (100, 10)]
    assert len(convs(build_model("cnn", (3, 56, 48), 2))) == 4


def test_paper_defaults_resnet_64_channels_celeba_hidden_100():
    """Reference: ResNet-13 at 64 base channels; the CNN's hidden layer is 100 units on CelebA too."""
    convs = [l for l in build_model("resnet13", (1, 28, 28), 10).modules() if isinstance(l, torch.nn.Conv2d)]
    assert convs[0].out_channels == 64 and max(c.out_channels for c in convs) == 256
    celeba = [l for l in build_model("cnn", (3, 56, 48), 2).modules() if isinstance(l, torch.nn.Linear)]
    assert [l.out_features for l in celeba] == [100, 2]


@pytest.mark.parametrize("name", BUILT_IN)
def test_glorot_initialisation_by_default_he_on_request(name):
    """Sec. 3.1 cites Glorot [29]: uniform weights within sqrt(6 / (fan_in + fan_out))."""
    layer = lambda m: next(l for l in m.modules() if isinstance(l, torch.nn.Linear))  # noqa: E731
    w = layer(build_model(name, (1, 28, 28), 10, seed=0)).weight
    bound = (6.0 / (w.shape[0] + w.shape[1])) ** 0.5
    top = float(w.detach().abs().max())
    assert 0.9 * bound < top <= bound
    he = layer(build_model(name, (1, 28, 28), 10, seed=0, init="he")).weight
    assert float(he.detach().std()) == pytest.approx((2.0 / he.shape[1]) ** 0.5, rel=0.1)
    with pytest.raises(UserError, match="initialisation"):
        build_model(name, (1, 28, 28), 10, init="lecun")


def test_mlp_has_four_hidden_layers_of_128():
    linears = [l for l in build_model("mlp", (1, 28, 28), 10).modules() if isinstance(l, torch.nn.Linear)]
    assert [l.out_features for l in linears] == [128, 128, 128, 128, 10]


def test_unknown_model_and_bad_shape_are_user_errors():
    with pytest.raises(UserError, match="cnn"):
        build_model("nope", (1, 28, 28), 10)
    with pytest.raises(UserError):
        build_model("cnn", (28, 28), 10)
    with pytest.raises(UserError):
        build_model("cnn", (1, 28, 28), 1)
