"""Fused adversarial training of a pack: each model's examples are crafted
against that model from its own random stream, and the pack trains every model as it trains
alone. The fused (vmap) path is the GPU path, forced here on CPU (one torch thread: tests/conftest.py)."""
from __future__ import annotations

import math

import pytest
import torch

import raysweep.training.strategies  # noqa: F401  (registers the strategies)
from raysweep.attacks import ATTACKS
from raysweep.data.batch import Split
from raysweep.models import build_model
from raysweep.models.packed import PackedModel
from raysweep.training.loop import TrainConfig, train
from raysweep.training.packed import train_packed
from raysweep.training.packed_attack import examples_pack
from raysweep.training.packed_strategy import FUSED_STRATEGIES, fused_form
from raysweep.training.strategy import STRATEGIES, StrategyContext

SEEDS = (3, 11)


def _split(seed: int, n: int) -> Split:
    g = torch.Generator().manual_seed(100 + seed)
    y = torch.randint(0, 10, (n,), generator=g)  # the class decides the mean brightness
    x = (torch.rand(n, 1, 28, 28, generator=g) * 120 + y.view(-1, 1, 1, 1) * 12).to(torch.uint8)
    return Split(x, y)


def _adversarial(seed: int, name: str = "adversarial", **params):
    # the trial's strategy generator (raysweep.trial.prepare: seed + 1, on the CPU)
    ctx = StrategyContext(generator=torch.Generator().manual_seed(seed + 1))
    return STRATEGIES.build(name, ctx=ctx, iterations=5, **params)


def _trained(n: int = 120) -> list[torch.nn.Module]:
    models = [build_model("cnn", (1, 28, 28), 10, seed=s) for s in SEEDS]
    for m, s in zip(models, SEEDS):
        train(m, _split(s, n), STRATEGIES.build("normal", ctx=StrategyContext()), TrainConfig(epochs=1), seed=s,
              device="cpu")
    return models


def test_packed_examples_equal_each_models_own_examples():
    models = _trained()
    batches = [_split(50 + s, 20).batch(None, "cpu") for s in SEEDS]  # each model its own images
    attack = ATTACKS.build("linf", iterations=8, restarts=1, eps=0.3)
    alone = [attack.examples(m, b, generator=torch.Generator().manual_seed(s)) for m, b, s in zip(models, batches, SEEDS)]
    packed = examples_pack(attack, PackedModel(models).eval(), batches,
                           [torch.Generator().manual_seed(s) for s in SEEDS])
    assert packed.shape == (len(SEEDS), 20, 1, 28, 28)
    for k, a in enumerate(alone):
        # Adam normalises the step: pixels whose gradient is float noise may move by ~lr differently
        torch.testing.assert_close(packed[k], a, rtol=0, atol=2e-2)
        assert (packed[k] - a).abs().gt(1e-3).float().mean() < 0.01
        assert (a - batches[k].x).abs().max() > 0.25  # the attack really moved (eps 0.3)
    # negative control: model 1's examples are not model 0's (own model, own images, own start)
    assert (packed[0] - packed[1]).abs().max() > 0.25


# A conv bias right before BatchNorm has zero true gradient (BN subtracts the batch mean), so Adam
# turns float noise in it into +-lr steps (tests/training/test_packed.py shows it for normal training).
# In train mode that cannot matter; in eval mode -- where the next batch's examples are crafted --
# the running mean follows the bias only partly, so from the second step on the two runs attack
# slightly different eval-mode functions, as two unpacked runs on different BLAS kernels would.
# Exactness is therefore checked over one step, and over an epoch only the losses.
GAUGE = {"features.0.bias", "features.3.bias", "features.6.bias"}


@pytest.mark.parametrize("name,variant", [("adversarial", "half"), ("adversarial", "full"), ("adversarial", "weak"),
                                          ("random_image", "half")])
def test_fused_adversarial_step_equals_each_models_own_step(name, variant):
    cfg = TrainConfig(epochs=1, batch_size=40)
    splits = [_split(s, 40) for s in SEEDS]  # one batch: one step of crafting and training
    alone = [build_model("cnn", (1, 28, 28), 10, seed=s) for s in SEEDS]
    hist = [train(m, sp, _adversarial(s, name, variant=variant), cfg, seed=s, device="cpu").history
            for m, sp, s in zip(alone, splits, SEEDS)]
    packed = [build_model("cnn", (1, 28, 28), 10, seed=s) for s in SEEDS]
    res = train_packed(packed, splits, [_adversarial(s, name, variant=variant) for s in SEEDS], cfg, seeds=SEEDS,
                       device="cpu", fused=True)
    for a, p, h, r, sp in zip(alone, packed, hist, res, splits):
        assert r.history[0]["train_loss"] == pytest.approx(h[0]["train_loss"], rel=1e-5)
        assert math.isnan(r.history[0]["train_error"]) and math.isnan(h[0]["train_error"])  # alone reports none
        for name, t in a.state_dict().items():
            if name not in GAUGE and t.is_floating_point():
                # Adam's first step is g / (|g| + eps): entries whose gradient is float-noise-sized
                # move by noise; all but a handful of entries must agree
                diff = (p.state_dict()[name] - t).abs()
                assert diff.max() <= cfg.lr and (diff > 1e-5).float().mean() < 1e-3, name
        x = sp.batch(slice(0, 40)).x
        torch.testing.assert_close(p.train()(x), a.train()(x), rtol=1e-3, atol=1e-4)
    # negative control: the members took different steps, so the match is not trivial
    assert not torch.allclose(packed[0].head[1].weight, packed[1].head[1].weight, atol=1e-3)


def test_fused_adversarial_epochs_track_each_models_own_losses():
    # lr 0.001: at the default 0.01 this toy is chaotic -- a 1e-6 relative change of the initial
    # weights alone moves the second epoch's loss by 1-2% -- so the comparison would measure chaos
    cfg = TrainConfig(epochs=2, batch_size=40, lr=0.001)
    splits = [_split(s, 120) for s in SEEDS]
    alone = [train(build_model("cnn", (1, 28, 28), 10, seed=s), sp, _adversarial(s), cfg, seed=s, device="cpu")
             for sp, s in zip(splits, SEEDS)]
    packed = train_packed([build_model("cnn", (1, 28, 28), 10, seed=s) for s in SEEDS], splits,
                          [_adversarial(s) for s in SEEDS], cfg, seeds=SEEDS, device="cpu", fused=True)
    for a, p in zip(alone, packed):
        for ha, hp in zip(a.history, p.history):
            assert hp["train_loss"] == pytest.approx(ha["train_loss"], rel=0.02)
    # the two members' losses differ by more than that tolerance, so it can tell them apart
    assert alone[0].history[-1]["train_loss"] != pytest.approx(alone[1].history[-1]["train_loss"], rel=0.05)


def test_fused_adversarial_pack_resumes_exactly_from_its_checkpoint():
    """The pack's checkpoint holds each strategy's random stream: a resumed pack draws the random
    starts an uninterrupted one draws, so both end with the same weights."""
    cfg = TrainConfig(epochs=2, batch_size=40)
    splits = [_split(s, 80) for s in SEEDS]
    straight = [build_model("cnn", (1, 28, 28), 10, seed=s) for s in SEEDS]
    states = []
    train_packed(straight, splits, [_adversarial(s) for s in SEEDS], cfg, seeds=SEEDS, device="cpu", fused=True,
                 on_epoch=lambda e, m, state_fn: states.append(state_fn()))
    resumed = [build_model("cnn", (1, 28, 28), 10, seed=s) for s in SEEDS]
    train_packed(resumed, splits, [_adversarial(s) for s in SEEDS], cfg, seeds=SEEDS, device="cpu", fused=True,
                 state=states[0])
    for a, b in zip(straight, resumed):
        for name, t in a.state_dict().items():
            torch.testing.assert_close(b.state_dict()[name], t, rtol=0, atol=0, msg=name)
    # control: the strategies' streams matter; without them the resumed pack draws other starts
    stale = {**states[0], "strategies": [{} for _ in SEEDS]}
    other = [build_model("cnn", (1, 28, 28), 10, seed=s) for s in SEEDS]
    train_packed(other, splits, [_adversarial(s) for s in SEEDS], cfg, seeds=SEEDS, device="cpu", fused=True,
                 state=stale)
    assert not torch.equal(other[0].head[1].weight, straight[0].head[1].weight)


def test_fused_forms_cover_their_names_and_refuse_what_they_cannot_fuse():
    assert fused_form([_adversarial(s) for s in SEEDS]) is not None
    assert fused_form([STRATEGIES.build("normal", ctx=StrategyContext()) for _ in SEEDS]) is not None
    assert set(FUSED_STRATEGIES) == {"normal", "adversarial", "random_image"}
    # members configured differently cannot share one pack step
    assert fused_form([_adversarial(3), _adversarial(11, eps=0.1)]) is None
    # transformation attacks optimise theta, not the image: no fused form, the pack runs sequentially
    warp = [STRATEGIES.build("transform_adversarial", ctx=StrategyContext(generator=torch.Generator())) for _ in SEEDS]
    assert fused_form(warp) is None
