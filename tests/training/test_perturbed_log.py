"""The epochs table's adv_* columns: what adversarial training's inner problem did (claim 5's
"noise, not robustness" hypothesis reads them). Known answers and controls: random noise never
moves from its start (drift 0, start and kept iterate equal); Adam-PGD raises the loss above its
start; normal training has no perturbed half; the columns reach the epochs rows."""
from __future__ import annotations

import math

import pytest
import torch

import raysweep.training.strategies  # noqa: F401  (registers the strategies)
from raysweep.data import load_dataset
from raysweep.models import build_model
from raysweep.training.epoch_log import EpochLog
from raysweep.training.loop import TrainConfig, train
from raysweep.training.perturbed_log import COLUMNS, PerturbedLog
from raysweep.training.strategy import STRATEGIES, StrategyContext


@pytest.fixture(scope="module")
def fonts(tmp_path_factory):
    return load_dataset("fonts", max_fonts=3, train_size=150, test_size=60,
                        cache_dir=str(tmp_path_factory.mktemp("cache")))


def one_epoch(fonts, name: str, **params) -> dict[str, float]:
    torch.manual_seed(0)
    model = build_model("cnn", fonts.image_shape, fonts.n_classes, seed=0)
    ctx = StrategyContext(dataset_meta=fonts.meta, generator=torch.Generator().manual_seed(0))
    strategy = STRATEGIES.build(name, ctx=ctx, **params)
    result = train(model, fonts.train, strategy, TrainConfig(epochs=1, batch_size=50, lr=0.01),
                   seed=0, device="cpu")
    return result.history[0]


def test_random_noise_never_leaves_its_start(fonts):
    """Control: zero iterations, so the kept iterate is the start."""
    m = one_epoch(fonts, "random_image")
    assert m["adv_drift_l2"] == 0.0
    assert m["adv_success"] == m["adv_start_success"] and m["adv_loss"] == pytest.approx(m["adv_start_loss"])
    assert m["adv_delta_l2"] > 0  # the noise itself is there


def test_the_inner_attack_moves_and_raises_the_loss(fonts):
    """Positive control: 10 Adam steps move away from the start and raise the cross-entropy."""
    m = one_epoch(fonts, "adversarial", iterations=10)
    assert m["adv_drift_l2"] > 0.5
    assert m["adv_loss"] > m["adv_start_loss"] and m["adv_success"] >= m["adv_start_success"]
    assert 0 <= m["adv_start_success"] <= 1 and 0 <= m["adv_success"] <= 1
    # an L-inf eps of 0.3 over 28x28 images bounds the L2 size
    assert 0 < m["adv_delta_l2"] <= 0.3 * 28 + 1e-4


def test_normal_training_has_no_perturbed_half(fonts):
    assert not set(COLUMNS) & set(one_epoch(fonts, "normal"))


def test_the_columns_reach_the_epoch_rows(fonts):
    model = build_model("cnn", fonts.image_shape, fonts.n_classes, seed=0)
    ctx = StrategyContext(dataset_meta=fonts.meta, generator=torch.Generator().manual_seed(0))
    log = EpochLog(model, fonts.test, torch.device("cpu"))
    strategy = STRATEGIES.build("adversarial", ctx=ctx, iterations=2)
    train(model, fonts.train, strategy, TrainConfig(epochs=2, batch_size=50), seed=0, device="cpu", on_epoch=log)
    assert [r["epoch"] for r in log.rows] == [1, 2]
    assert all(math.isfinite(r[c]) for r in log.rows for c in COLUMNS)


def test_an_epoch_without_perturbed_rows_reads_nan():
    log = PerturbedLog()
    assert all(math.isnan(v) for v in log.take().values())
    log.add({"rows": torch.tensor(4.0), "success": torch.tensor(1.0), "loss": torch.tensor(2.0),
             "start_success": torch.tensor(0.0), "start_loss": torch.tensor(1.0), "drift_l2": torch.tensor(4.0),
             "delta_l2": torch.tensor(8.0)})
    assert log.take() == {"adv_success": 0.25, "adv_loss": 0.5, "adv_start_success": 0.0, "adv_start_loss": 0.25,
                          "adv_drift_l2": 1.0, "adv_delta_l2": 2.0}
    assert math.isnan(log.take()["adv_loss"])  # take() starts the next epoch
