"""Packed models: K models trained, evaluated and attacked as one pack give every model
what it gets alone. The fused (vmap) path is forced here: it is the GPU path, tested on CPU."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import raysweep.training.strategies  # noqa: F401  (registers the strategies)
from raysweep.attacks import ATTACKS
from raysweep.data.batch import Split
from raysweep.models import MODELS, build_model
from raysweep.models.packed import FlatPack, PackedModel
from raysweep.training.loop import TrainConfig, evaluate, train
from raysweep.training.packed import evaluate_packed, train_packed
from raysweep.training.packed_attack import attack_packed
from raysweep.training.strategy import STRATEGIES, StrategyContext

SEEDS = (3, 11, 12)
SMALL = {"resnet13": {"width": 0.125}, "vgg": {"width": 0.125}}


def _split(seed: int, n: int) -> Split:
    g = torch.Generator().manual_seed(100 + seed)
    # a learnable toy: the class decides the mean brightness of the image
    y = torch.randint(0, 10, (n,), generator=g)
    x = (torch.rand(n, 1, 28, 28, generator=g) * 120 + y.view(-1, 1, 1, 1) * 12).to(torch.uint8)
    return Split(x, y)


def _pre_bn_biases(model) -> dict[str, str]:
    """bias name -> the running mean of the BatchNorm directly after that layer (in a Sequential)."""
    names = {}
    for prefix, mod in model.named_modules():
        kids = list(mod.named_children())
        for (name, a), (_, b) in zip(kids, kids[1:]):
            if isinstance(b, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)) and getattr(a, "bias", None) is not None:
                bn = kids[[n for n, _ in kids].index(name) + 1][0]
                names[f"{prefix}.{name}.bias".lstrip(".")] = f"{prefix}.{bn}.running_mean".lstrip(".")
    return names


def _normal():
    return STRATEGIES.build("normal", ctx=StrategyContext())


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("arch", MODELS.names())
def test_every_architecture_packs_train_and_eval_forward(arch):
    models = [build_model(arch, (1, 28, 28), 10, seed=s, **SMALL.get(arch, {})) for s in SEEDS]
    pack = PackedModel(models)
    x = torch.rand(len(SEEDS), 6, 1, 28, 28)
    for mode in (True, False):  # train mode: per-model batch statistics; eval: per-model running ones
        pack.train(mode)
        for m in models:
            m.train(mode)
        ref = torch.stack([m(x[k]) for k, m in enumerate(models)])
        torch.testing.assert_close(pack(x), ref, rtol=1e-4, atol=1e-5)
    for k, m in enumerate(models):  # the train-mode pass updated each model's own running stats
        for name, t in pack.unpack(k).state_dict().items():
            torch.testing.assert_close(t, m.state_dict()[name], msg=f"{arch} model {k} {name}")


def test_packed_training_equals_training_each_model_alone():
    cfg = TrainConfig(epochs=2, batch_size=40)  # 110 images: 3 batches, the last one short
    splits = [_split(s, 110) for s in SEEDS]
    alone = [build_model("cnn", (1, 28, 28), 10, seed=s) for s in SEEDS]
    alone_hist = [train(m, sp, _normal(), cfg, seed=s, device="cpu").history for m, sp, s in zip(alone, splits, SEEDS)]
    packed = [build_model("cnn", (1, 28, 28), 10, seed=s) for s in SEEDS]
    results = train_packed(packed, splits, [_normal() for _ in SEEDS], cfg, seeds=SEEDS, device="cpu", fused=True)
    gauge = _pre_bn_biases(alone[0])
    assert set(gauge) == {"features.0.bias", "features.3.bias", "features.6.bias"}
    for a, p, hist, res, split in zip(alone, packed, alone_hist, results, splits):
        for name, t in a.state_dict().items():
            if name not in gauge and name not in gauge.values():
                torch.testing.assert_close(p.state_dict()[name], t, rtol=1e-4, atol=1e-5, msg=name)
        for bias, mean in gauge.items():  # the running mean tracks the (noisy) bias, nothing more
            bound = (p.state_dict()[bias] - a.state_dict()[bias]).abs().max().item() + 1e-5
            assert (p.state_dict()[mean] - a.state_dict()[mean]).abs().max().item() <= bound
        # A conv bias right before BN has zero true gradient (BN subtracts the batch mean), so
        # Adam turns float noise in it into +-lr steps: alone and packed differ there by noise
        # (two unpacked runs on different BLAS kernels would too). It cannot change the
        # train-mode function, which must match:
        x = split.batch(slice(0, 40)).x
        torch.testing.assert_close(p.train()(x), a.train()(x), rtol=1e-3, atol=1e-4)
        for h, r in zip(hist, res.history):
            assert r["train_loss"] == pytest.approx(h["train_loss"], rel=1e-5)
            assert r["train_error"] == pytest.approx(h["train_error"], abs=1e-9)
            assert r["lr"] == h["lr"]
    # negative control: the models really differ (own seeds, own data), so equality above is not trivial
    assert not torch.allclose(packed[0].head[1].weight, packed[1].head[1].weight)
    test = _split(99, 200)
    errors = [evaluate(m, test, "cpu") for m in packed]
    # eval mode sees the gauge bias through the running mean; on these near-chance toy models
    # (2 epochs) predictions are near ties, so test errors agree to a few of the 200 images
    assert np.abs(np.subtract(errors, [evaluate(m, test, "cpu") for m in alone])).max() <= 0.05
    assert evaluate_packed(packed, test, "cpu", fused=True, batch_size=64) == pytest.approx(errors, abs=1e-9)


def test_packed_training_sees_each_models_own_batch_order():
    """Training a pack with the seeds swapped must not give the original models (order matters)."""
    cfg = TrainConfig(epochs=1, batch_size=40)
    split = _split(0, 110)
    ref = build_model("cnn", (1, 28, 28), 10, seed=0)
    train(ref, split, _normal(), cfg, seed=5, device="cpu")
    packed = [build_model("cnn", (1, 28, 28), 10, seed=0) for _ in range(2)]
    train_packed(packed, [split, split], [_normal(), _normal()], cfg, seeds=(5, 6), device="cpu", fused=True)
    w = ref.head[1].weight
    torch.testing.assert_close(packed[0].head[1].weight, w, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(packed[1].head[1].weight, w, atol=1e-4)


@pytest.mark.parametrize("restarts,max_rows", [(2, 10000), (3, 30)])  # (3, 30): several chunks per model
def test_packed_linf_attack_records_equal_alone(restarts, max_rows):
    cfg = TrainConfig(epochs=2, batch_size=50)
    models = [build_model("cnn", (1, 28, 28), 10, seed=s) for s in SEEDS]
    train_packed(models, [_split(s, 150) for s in SEEDS], [_normal() for _ in SEEDS], cfg, seeds=SEEDS,
                 device="cpu", fused=False)
    batch = _split(7, 24).batch(None, "cpu")
    attack = ATTACKS.build("linf", iterations=15, restarts=restarts, eps=0.1, max_rows=max_rows)
    alone = attack_packed(attack, models, batch, SEEDS, fused=False, keep_images=True)
    packed = attack_packed(attack, models, batch, SEEDS, fused=True, keep_images=True)
    successes = 0
    for a, p in zip(alone, packed):
        for name, col in a.records.items():
            if col.dtype.kind == "f":
                np.testing.assert_allclose(p.records[name], col, rtol=1e-4, atol=1e-5, err_msg=name)
            else:
                np.testing.assert_array_equal(p.records[name], col, err_msg=name)
        # Adam normalises the step: pixels whose gradient is float noise may move by ~lr differently
        torch.testing.assert_close(p.x_adv, a.x_adv, rtol=0, atol=2e-3)
        successes += int(a.records["success"].sum())
        # early stop is per (model, sample): some rows stop early, others run to the end
        first = a.records["first_success_iter"]
        assert (first > 0).any() or (first == -1).any()
    assert 0 < successes < len(SEEDS) * 24 * restarts  # the attack neither always nor never wins


def test_flat_pack_rows_belong_to_their_model():
    models = [build_model("mlp", (1, 28, 28), 10, seed=s) for s in SEEDS]
    flat = FlatPack(PackedModel(models)).eval()
    for m in models:
        m.eval()
    flat.b = 4
    x = torch.rand(2 * len(SEEDS) * 4, 1, 28, 28)  # [restart, model, sample]
    out = flat(x).view(2, len(SEEDS), 4, 10)
    for k, m in enumerate(models):
        torch.testing.assert_close(out[:, k], m(x.view(2, len(SEEDS), 4, 1, 28, 28)[:, k].flatten(0, 1)).view(2, 4, 10))
    with pytest.raises(ValueError):
        flat(x[:5])
