"""Training strategies (Sec. 3.4-3.6, supplement G/H): every registered strategy trains, and the
adversarial recipe holds (eval-mode attack, eps respected, one train-mode pass, (CE+CE)/2).

The learned manifolds are smoke-width VAE-GANs with random (untrained) weights: enough to check
that the strategies run end to end through the real ClassManifold/DataManifold code, not a claim
about what they teach the classifier.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import raysweep.training.strategies  # noqa: F401  (registers the strategies)
from raysweep.data.batch import Batch
from raysweep.data import load_dataset
from raysweep._core.errors import UserError
from raysweep.manifold.learned import ClassManifold, DataManifold
from raysweep.manifold.true import TrueManifold
from raysweep.models import build_model
from raysweep.vaegan.network import VAEGAN, VAEGANArch
from raysweep.training.loop import TrainConfig, train
from raysweep.training.strategies._mix import MixedStrategy, mixed_loss, split, uniform_box
from raysweep.training.strategy import STRATEGIES, StrategyContext

EPS = 0.3


@pytest.fixture(scope="module")
def fonts(tmp_path_factory):
    return load_dataset("fonts", max_fonts=3, train_size=150, test_size=60,
                        cache_dir=str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def manifolds(fonts):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        arch = VAEGANArch(width=0.125)  # smoke width, random weights (see module docstring)
        learned_class = ClassManifold([VAEGAN(arch, with_discriminator=False) for _ in range(fonts.n_classes)])
        learned_data = DataManifold(VAEGAN(arch, with_discriminator=False))
    return {"true": TrueManifold.from_dataset(fonts), "class": learned_class, "data": learned_data}


def context(fonts, manifolds, seed=0):
    return StrategyContext(manifolds=manifolds, dataset_meta=fonts.meta,
                           generator=torch.Generator().manual_seed(seed), device=torch.device("cpu"))


def model(fonts, seed=0):
    return build_model("cnn", fonts.image_shape, fonts.n_classes, seed=seed)


def batch(fonts, n=40):
    return fonts.train.batch(slice(0, n))


# Only the strategies raysweep ships: other test modules register throw-away entries.
SHIPPED = [e.name for e in STRATEGIES if e.factory.__module__.startswith("raysweep.")]
MIXED = [n for n in SHIPPED if n != "normal"]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_strategy_trains_one_epoch(name, fonts, manifolds):
    assert STRATEGIES.get(name).needs in {None, *manifolds}
    net = model(fonts)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    strategy = STRATEGIES.build(name, ctx=context(fonts, manifolds))
    result = train(net, fonts.train, strategy, TrainConfig(epochs=1, batch_size=50), seed=0, device="cpu")
    assert math.isfinite(result.history[0]["train_loss"])
    assert net.training
    changed = [k for k, v in net.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert any(k.endswith("weight") for k in changed)


@pytest.mark.parametrize("name", MIXED)
def test_attack_runs_in_eval_mode_and_loss_in_one_train_pass(name, fonts, manifolds):
    net = model(fonts)
    params = {} if name == "augment" else {"iterations": 2}  # keep the test fast
    strategy = STRATEGIES.build(name, ctx=context(fonts, manifolds), **params)
    modes, inner = [], strategy.craft

    def spy(m, b):
        modes.append(m.training)
        return inner(m, b)

    strategy.craft = spy
    calls = []
    hook = net.register_forward_hook(lambda mod, inp, out: calls.append((mod.training, inp[0].shape[0])))
    net.train()
    loss = strategy.loss(net, batch(fonts))
    hook.remove()
    assert modes == [False] and net.training and loss.dim() == 0 and torch.isfinite(loss)
    train_passes = [size for training, size in calls if training]
    assert train_passes == [40]  # one forward over clean + perturbed halves, BN sees both


@pytest.mark.parametrize("variant", ["half", "full", "weak"])
@pytest.mark.parametrize("name", ["adversarial", "random_image"])
def test_regular_perturbations_respect_eps_and_the_image_box(name, variant, fonts, manifolds):
    strategy = STRATEGIES.build(name, ctx=context(fonts, manifolds), variant=variant, eps=EPS)
    b = batch(fonts)
    clean, target = split(b, strategy.adv_fraction)
    assert len(target) == (40 if variant == "full" else 20) and len(clean) + len(target) == 40
    x_adv, keep = strategy.craft(model(fonts).eval(), target)
    assert keep.all() and x_adv.shape == target.x.shape
    assert (x_adv - target.x).abs().max() <= EPS + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv - target.x).abs().max() > 0.05  # something was actually perturbed


def test_adversarial_examples_raise_the_loss_more_than_random_noise(fonts, manifolds):
    net = model(fonts)
    # 48 steps: with Glorot initialisation (the paper's) 6 steps leave the model at chance level
    train(net, fonts.train, STRATEGIES.build("normal", ctx=StrategyContext()), TrainConfig(epochs=8, batch_size=25),
          seed=0, device="cpu")
    net.eval()
    b = batch(fonts, 60)
    ce = {}
    for name in ("adversarial", "random_image"):
        x, _ = STRATEGIES.build(name, ctx=context(fonts, manifolds), variant="full").craft(net, b)
        ce[name] = F.cross_entropy(net(x), b.y).item()
    assert ce["adversarial"] > ce["random_image"] + 1.0
    assert ce["adversarial"] > F.cross_entropy(net(b.x), b.y).item() + 1.0


def test_mixed_loss_is_the_mean_of_clean_and_adversarial_cross_entropy():
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))  # no BN: logits do not depend on the batch
    g = torch.Generator().manual_seed(0)
    clean = Batch(torch.rand(5, 1, 2, 2, generator=g), torch.tensor([0, 1, 2, 0, 1]))
    x_adv, y_adv = torch.rand(3, 1, 2, 2, generator=g), torch.tensor([2, 2, 1])
    expected = (F.cross_entropy(net(clean.x), clean.y) + F.cross_entropy(net(x_adv), y_adv)) / 2
    assert torch.allclose(mixed_loss(net, clean, x_adv, y_adv), expected)
    only_adv = mixed_loss(net, Batch(clean.x[:0], clean.y[:0]), x_adv, y_adv)
    assert torch.allclose(only_adv, F.cross_entropy(net(x_adv), y_adv))


def test_onmanifold_class_uses_only_valid_codes(fonts, manifolds):
    class HalfValid(ClassManifold):
        """Marks every other code as outside the ||z||_inf <= 2 bound."""

        def codes(self, b):
            z, ctx, valid = super().codes(b)
            return z, ctx, valid & (torch.arange(len(b)) % 2 == 0)

    learned = HalfValid(manifolds["class"].models)
    ctx = context(fonts, {**manifolds, "class": learned})
    strategy = STRATEGIES.build("onmanifold_class", ctx=ctx, iterations=2)
    _, keep = strategy.craft(model(fonts).eval(), batch(fonts, 10))
    assert keep.tolist() == [True, False] * 5


def test_augment_draws_theta_in_the_box_around_identity_not_clamped(fonts):
    lo, hi = (torch.tensor(fonts.meta[k]) for k in ("theta_lower", "theta_upper"))
    theta = uniform_box(lo, hi, 4000, torch.Generator().manual_seed(0))
    assert (theta >= lo).all() and (theta <= hi).all()
    scale = theta[:, 4]  # the authors' sampler clamped every scale to 0.75
    assert scale.min() < 0.77 and scale.max() > 1.13 and abs(scale.mean().item() - 0.95) < 0.02
    assert (lo <= torch.tensor([0, 0, 0, 0, 1, 0.0])).all() and (torch.tensor([0, 0, 0, 0, 1, 0.0]) <= hi).all()


def test_augment_draws_from_the_set_transform_adversarial_searches(fonts):
    """Both draw theta = identity + t with ||t||_inf <= 0.3, inside the data set's box: the
    attack's projection of any t lands in augment's sampling box, its extremes are the box's
    corners, and augment's draws fill that box (not the whole preset box)."""
    from raysweep.attacks.transformation import TransformConfig, TransformProblem
    from raysweep.training.strategies.augment import sampling_box

    ctx = context(fonts, {})
    lo, hi = sampling_box(ctx, {})
    identity = torch.tensor([0, 0, 0, 0, 1, 0.0])
    lower, upper = (torch.tensor(fonts.meta[k]) for k in ("theta_lower", "theta_upper"))
    cfg = TransformConfig(eta=EPS, lower=tuple(lower.tolist()), upper=tuple(upper.tolist()))
    problem = TransformProblem(batch(fonts, 2), cfg)
    wild = torch.cat([torch.full((1, 6), -5.0), torch.full((1, 6), 5.0), torch.randn(200, 6) * 3])
    searched = identity + problem.project(wild, {})
    assert torch.allclose(searched[0], lo) and torch.allclose(searched[1], hi)
    assert ((searched >= lo - 1e-6) & (searched <= hi + 1e-6)).all()
    theta = uniform_box(lo, hi, 4000, torch.Generator().manual_seed(0))
    assert ((theta - identity).abs().amax(1) <= EPS + 1e-6).all()
    assert torch.allclose(theta.amin(0), lo, atol=0.02) and torch.allclose(theta.amax(0), hi, atol=0.02)
    assert (hi[5] - lo[5]).item() == pytest.approx(2 * EPS)  # rotation: +-0.3, not the preset's +-pi/2
    whole = sampling_box(ctx, {"sampling": "preset_box"})
    assert torch.equal(whole[0], lower) and torch.equal(whole[1], upper)


def test_augment_warps_the_clean_image_within_eta(fonts, manifolds):
    strategy = STRATEGIES.build("augment", ctx=context(fonts, manifolds))
    b = batch(fonts, 20)
    x_aug, keep = strategy.craft(model(fonts).eval(), b)
    assert keep.all() and x_aug.shape == b.x.shape and not torch.equal(x_aug, b.x)


def test_same_generator_seed_same_loss_and_state_round_trip(fonts, manifolds):
    net, b = model(fonts), batch(fonts)
    first = STRATEGIES.build("random_image", ctx=context(fonts, manifolds, seed=3))
    second = STRATEGIES.build("random_image", ctx=context(fonts, manifolds, seed=3))
    state = first.state_dict()
    loss_a = first.loss(net, b)
    assert torch.equal(loss_a, second.loss(net, b))
    first.load_state_dict(state)  # a resumed run redraws the same noise
    assert torch.equal(first.loss(net, b), loss_a)


def test_combined_ratio_splits_regular_and_onmanifold_rows(fonts, manifolds):
    strategy = STRATEGIES.build("combined", ctx=context(fonts, manifolds), ratio=0.25, iterations=3)
    assert isinstance(strategy, MixedStrategy)
    b = batch(fonts, 40)
    x_adv, keep = strategy.craft(model(fonts).eval(), b)
    delta = (x_adv - b.x).flatten(1).abs().amax(1)
    assert keep.all() and (delta[:10] <= EPS + 1e-6).all()  # regular rows: inside the eps-ball
    assert (delta[10:] > EPS).any()  # on-manifold rows re-render the glyph: not an eps-ball change


@pytest.mark.parametrize("name,params,match", [
    ("adversarial", {"variant": "strong"}, "variant"),
    ("adversarial", {"epsilon": 0.3}, "no parameter"),
    ("adversarial", {"norm": "l7"}, "norm"),
    ("combined", {"ratio": 1.5}, "ratio"),
    ("random_latent", {"manifold": "moon"}, "manifold"),
    ("onmanifold_true", {"manifold": "class"}, "manifold"),
    ("augment", {"preset": "extreme"}, "preset"),
    ("augment", {"sampling": "ball"}, "sampling"),
])
def test_bad_parameters_are_user_errors(name, params, match, fonts, manifolds):
    with pytest.raises(UserError, match=match):
        STRATEGIES.build(name, ctx=context(fonts, manifolds), **params)


def test_missing_manifold_is_a_user_error(fonts):
    with pytest.raises(UserError, match="'class' manifold"):
        STRATEGIES.build("onmanifold_class", ctx=StrategyContext(dataset_meta=fonts.meta))


@pytest.mark.parametrize("variant", ["full", "weak"])
@pytest.mark.parametrize("name", ["onmanifold_true", "onmanifold_class", "transform_adversarial", "combined"])
def test_variants_apply_to_every_adversarial_family(name, variant, fonts, manifolds):
    """Supplement H: the full and weak variants exist for on-manifold and transformation training too."""
    strategy = STRATEGIES.build(name, ctx=context(fonts, manifolds), variant=variant, iterations=3)
    net = model(fonts).train()
    loss = strategy.loss(net, batch(fonts, 20))
    assert torch.isfinite(loss) and net.training
    assert strategy.adv_fraction == (1.0 if variant == "full" else 0.5)


def test_a_manifold_parameter_decides_which_manifold_the_sweep_must_provide():
    """random_latent/combined take `manifold`; the sweep starts actors from what they really use."""
    from raysweep.config.schema import AttackSpec, EvaluateSpec
    from raysweep.trial.attack_runs import build_attacks

    def needs(name: str, params: dict):
        return STRATEGIES.get(name).needs_for(params)

    assert needs("onmanifold_true", {}) == "true"
    assert needs("random_latent", {"manifold": "class"}) == "class"
    assert needs("combined", {"manifold": "data", "ratio": 0.5}) == "data"
    assert needs("normal", {}) is None
    spec = AttackSpec(name="random_latent", restarts=1, params={"manifold": "class"})
    assert build_attacks(EvaluateSpec(attacks=[spec]))["random_latent"].attack.needs == "class"
