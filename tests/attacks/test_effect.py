"""Attacks hurt a small normally trained FONTS CNN as the paper says: L-inf eps 0.3 succeeds on
>= 90% of correctly classified samples, random noise of the same size on far fewer, and the
true on-manifold attack finds adversarial examples that are exactly decoder outputs."""
from __future__ import annotations

import pytest
import torch

from raysweep.attacks import ATTACKS
from raysweep.data import load_dataset
from raysweep.manifold.true import TrueManifold
from raysweep.models.classifiers import build_model
from raysweep.training.loop import TrainConfig, train
from raysweep.training.strategy import STRATEGIES, StrategyContext
import raysweep.training.strategies  # noqa: F401  (registers "normal")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A CNN trained normally on a small FONTS (20 fonts, 2000 images, 4 epochs: ~6 s)."""
    ds = load_dataset("fonts", max_fonts=20, train_size=2000, test_size=200,
                      cache_dir=str(tmp_path_factory.mktemp("fonts")))
    model = build_model("cnn", ds.image_shape, ds.n_classes, seed=0)
    train(model, ds.train, STRATEGIES.build("normal", ctx=StrategyContext()), TrainConfig(epochs=4), seed=0, device="cpu")
    batch = ds.test.batch(slice(0, 80))
    return model.eval(), ds, batch


def attack(name, trained, **kw):
    model, ds, batch = trained
    manifold = TrueManifold.from_dataset(ds)
    return ATTACKS.build(name, **kw)(model, batch, manifold=manifold, generator=torch.Generator().manual_seed(0),
                                     keep_images=True)


def test_model_is_trained(trained):
    model, _, batch = trained
    accuracy = (model(batch.x).argmax(1) == batch.y).float().mean().item()
    assert accuracy > 0.35  # 10 classes: well above chance, so "correct" samples exist


def test_linf_attack_succeeds_and_random_noise_does_not(trained):
    linf = attack("linf", trained).metrics()
    noise = attack("random_linf", trained).metrics()
    assert linf["n_correct"] >= 20
    assert linf["success_rate_attempt"] >= 0.9
    assert noise["success_rate_attempt"] <= 0.5 * linf["success_rate_attempt"]
    assert linf["mean_linf"] <= 0.3 + 1e-6


def test_true_on_manifold_attack_stays_exactly_on_the_manifold(trained):
    model, ds, batch = trained
    result = attack("onmanifold_true", trained)
    assert result.metrics()["success_rate_attempt"] > 0
    manifold = TrueManifold.from_dataset(ds)
    restarts = result.x_adv.shape[0]
    decoded = manifold.decode(result.z_adv.flatten(0, 1), batch.ctx.repeat(restarts, 1))
    assert torch.allclose(result.x_adv.flatten(0, 1), decoded, atol=1e-6)
    lower, upper = manifold.lower, manifold.upper
    z = result.z_adv.flatten(0, 1)
    assert bool(((z >= lower - 1e-6) & (z <= upper + 1e-6)).all())
    zeta = z - batch.z.repeat(restarts, 1)
    assert float(zeta.abs().max()) <= 0.3 + 1e-5
