"""The training loop: schedule, determinism, exact resume, learning, evaluation."""
import math

import pydantic
import pytest
import torch
from torch import nn

import raysweep.training.strategies  # noqa: F401  (registers the strategies)
from raysweep.data.batch import Split
from raysweep._core.errors import UserError
from raysweep.models import build_model
from raysweep.training.loop import TrainConfig, evaluate, train
from raysweep.training.schedule import lr_at, num_batches
from raysweep.training.strategy import STRATEGIES, StrategyContext


def easy_split(n: int, seed: int = 0, n_classes: int = 4) -> Split:
    """Class k lights up the k-th horizontal band of a noisy 28x28 image: trivially learnable."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % n_classes
    x = torch.rand(n, 1, 28, 28, generator=g) * 0.3
    band = 28 // n_classes
    for k in range(n_classes):
        x[y == k, :, k * band:(k + 1) * band, :] += 0.7
    return Split((x * 255).round().to(torch.uint8), y)


def normal():
    return STRATEGIES.build("normal", ctx=StrategyContext())


def fresh(seed=0):
    return build_model("cnn", (1, 28, 28), 4, seed=seed)


def weights_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


CFG = TrainConfig(epochs=3, batch_size=50)


def test_lr_schedule_known_values():
    assert num_batches(250, 100) == 3 and num_batches(300, 100) == 3 and num_batches(1, 100) == 1
    assert lr_at(0.01, 0.95, 0, 0, 10) == pytest.approx(0.0095)  # first step already decayed once
    assert lr_at(0.01, 0.95, 1, 5, 10) == pytest.approx(0.01 * 0.95**2.5)
    assert lr_at(0.01, 0.95, 19, 9, 10) == pytest.approx(0.01 * 0.95**20.9)


def test_loop_reports_the_last_lr_of_each_epoch():
    result = train(fresh(), easy_split(120), normal(), CFG, seed=0, device="cpu")
    batches = num_batches(120, 50)  # 3: the last batch has 20 images
    for epoch, m in enumerate(result.history):
        assert m["lr"] == pytest.approx(0.01 * 0.95 ** (epoch + 1 + (batches - 1) / batches))
        assert {"train_loss", "train_error", "epoch_time_s", "images_per_s"} <= m.keys()
    assert len(result.history) == 3 and result.images_per_s > 0


def test_same_seed_same_weights_different_seed_different_weights():
    split = easy_split(100)
    a, b, c = fresh(), fresh(), fresh()
    train(a, split, normal(), CFG, seed=1, device="cpu")
    train(b, split, normal(), CFG, seed=1, device="cpu")
    train(c, split, normal(), CFG, seed=2, device="cpu")  # same init, other batch order
    assert weights_equal(a, b)
    assert not weights_equal(a, c)


def test_resume_from_epoch_checkpoint_equals_uninterrupted_run():
    split = easy_split(100)
    full = fresh()
    train(full, split, normal(), CFG, seed=3, device="cpu")

    saved = {}
    interrupted = fresh()

    def keep_first(epoch, metrics, state_fn):
        if epoch == 0:
            saved.update(state_fn())
            raise KeyboardInterrupt  # the trial dies after its first checkpoint

    with pytest.raises(KeyboardInterrupt):
        train(interrupted, split, normal(), CFG, seed=3, device="cpu", on_epoch=keep_first)
    assert saved["epoch"] == 1
    resumed = fresh(seed=99)  # other initial weights: the checkpoint must overwrite them
    result = train(resumed, split, normal(), CFG, seed=3, device="cpu", state=saved)
    assert [m["epoch"] for m in result.history] == [1.0, 2.0]
    assert weights_equal(resumed, full)


def test_training_reduces_error_on_an_easy_problem():
    train_split, test_split = easy_split(200, seed=0), easy_split(200, seed=1)
    model = fresh()
    before = evaluate(model, test_split, "cpu")
    result = train(model, train_split, normal(), TrainConfig(epochs=3, batch_size=20), seed=0, device="cpu")
    after = evaluate(model, test_split, "cpu")
    assert after < 0.1 < before
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.history[-1]["train_error"] < 0.2


class PredictsZero(nn.Module):
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([1.0, 0.0, 0.0, 0.0]))

    def forward(self, x):
        return self.bias.expand(x.shape[0], 4)


def test_evaluate_known_error_and_restores_mode():
    split = easy_split(103)  # labels 0,1,2,3,0,...: 26 zeros among 103
    model = PredictsZero()
    for mode in (True, False):
        model.train(mode)
        assert evaluate(model, split, "cpu", batch_size=10) == pytest.approx(77 / 103)
        assert model.training is mode


class LossOnly:
    """A strategy without loss_and_logits: the loop cannot know its train error."""

    name = "loss-only"

    def loss(self, model, batch):
        return nn.functional.cross_entropy(model(batch.x), batch.y)


def test_strategy_without_logits_gives_nan_train_error():
    result = train(fresh(), easy_split(50), LossOnly(), TrainConfig(epochs=1), seed=0, device="cpu")
    assert math.isnan(result.history[0]["train_error"])
    assert math.isfinite(result.history[0]["train_loss"])


def test_normal_strategy_registration_and_bad_input():
    assert STRATEGIES.get("normal").needs is None and STRATEGIES.get("normal").family == "normal"
    with pytest.raises(UserError, match="eps"):
        STRATEGIES.build("normal", ctx=StrategyContext(), eps=0.3)
    with pytest.raises(pydantic.ValidationError):  # the spec's TrainSpec: checked once, by pydantic
        TrainConfig(epochs=0)
    assert TrainConfig(betas=[0.5, 0.9]).betas == (0.5, 0.9)  # as a YAML spec gives them
    with pytest.raises(UserError):
        train(fresh(), easy_split(0), normal(), CFG, seed=0, device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_training_and_evaluation():
    split = easy_split(200)
    model = fresh()
    train(model, split, normal(), TrainConfig(epochs=2, batch_size=20), seed=0, device="cuda")
    assert next(model.parameters()).is_cuda
    assert evaluate(model, split, "cuda") < 0.2


def test_nan_loss_is_one_clear_error_not_a_traceback():
    """A diverging run stops with a UserError (one line, exit 2 from the CLI) naming the fix."""

    class Diverging:
        name = "diverging"

        def loss(self, model, batch):
            return model(batch.x).sum() * float("nan")

    g = torch.Generator().manual_seed(0)
    split = Split(torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8, generator=g), torch.arange(40) % 10)
    model = build_model("cnn", (1, 28, 28), 10, seed=0)
    with pytest.raises(UserError, match="diverged.*lower train.lr"):
        train(model, split, Diverging(), TrainConfig(epochs=1, batch_size=20), seed=0, device=torch.device("cpu"))
