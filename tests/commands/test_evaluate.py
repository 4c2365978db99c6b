"""`raysweep evaluate`: models trained elsewhere -- a registry model's checkpoint and a
torchvision builder -- evaluated without training: trial and example rows, and a report."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
import yaml

from raysweep import cli
from raysweep.resolve import catalog
from raysweep._core.errors import UserError
from raysweep.models import build_model

FONTS = {"name": "fonts", "options": {"max_fonts": 2, "train_size": 200, "test_size": 60}}


def _spec(tmp_path, models):
    spec = {"name": "pre", "dataset": FONTS, "models": models, "storage": str(tmp_path / "out"),
            "evaluate": {"test_samples": 40,
                         "attacks": [{"name": "linf", "samples": 12, "restarts": 1, "params": {"iterations": 3}}]}}
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def test_evaluate_checkpoints_writes_rows_and_a_report(tmp_path, cache_dir, capsys):
    from raysweep.data import load_dataset
    from raysweep.training.loop import TrainConfig, train
    from raysweep.training.strategy import STRATEGIES, StrategyContext

    catalog.load()
    ds = load_dataset("fonts", **FONTS["options"])
    model = build_model("cnn", (1, 28, 28), 10, seed=4)  # trained "elsewhere": a few epochs here
    strategy = STRATEGIES.build("normal", ctx=StrategyContext(generator=torch.Generator().manual_seed(0), device="cpu"))
    train(model, ds.train, strategy, TrainConfig(epochs=4, batch_size=20), seed=0, device="cpu")
    torch.save({"model": model.state_dict(), "epoch": 3}, tmp_path / "cnn.pt")  # a training checkpoint
    path = _spec(tmp_path, [{"label": "mine", "arch": "cnn", "checkpoint": str(tmp_path / "cnn.pt"), "n": 500},
                            {"label": "tv18", "builder": "torchvision:resnet18", "input_channels": 3}])
    assert cli.main(["evaluate", path, "--set", "seed=3"]) == 0
    out = capsys.readouterr().out
    assert "mine: clean" in out and "(test_error" in out and "report:" in out
    tables = tmp_path / "out" / "pre" / "tables"
    trials = pd.read_parquet(tables / "trials").set_index("strategy")
    assert sorted(trials.index) == ["mine", "tv18"] and (trials["status"] == "ok").all()
    assert trials.loc["mine", "arch"] == "cnn" and trials.loc["tv18", "arch"] == "torchvision:resnet18"
    assert trials.loc["mine", "n"] == 500 and trials["train.epochs"].isna().all()  # never trained here
    assert trials.loc["mine", "linf.n_correct"] > 0 and trials.loc["mine", "linf.success_rate_attempt"] >= 0
    assert trials["test_error"].between(0, 1).all()
    assert len(trials.loc["mine", "strategy.checkpoint_sha256"]) == 64
    with torch.no_grad():  # the row's test error is the loaded weights', not a fresh model's
        x, y = ds.test.batch(torch.arange(40)).x, ds.test.y[:40]
        assert trials.loc["mine", "test_error"] == pytest.approx((model.eval()(x).argmax(1) != y).float().mean().item())
    examples = pd.read_parquet(tables / "examples")
    assert set(examples["strategy"]) == {"mine", "tv18"} and len(examples) == 24
    assert (tmp_path / "out" / "pre" / "analysis" / "report.md").exists()


def test_evaluate_spec_errors_are_one_line(tmp_path):
    with pytest.raises(UserError, match="needs exactly one of arch"):
        from raysweep.resolve.eval_spec import load_eval_spec

        load_eval_spec(_spec(tmp_path, [{"label": "x"}]))
    with pytest.raises(UserError, match="names arch 'cnn' but no checkpoint"):
        load_eval_spec(_spec(tmp_path, [{"label": "x", "arch": "cnn"}]))
    # any importable module:Class is a builder now (raysweep.models.loading); a bare name is not
    with pytest.raises(UserError, match="builder 'resnet18' must be torchvision:<fn>, timm:<name> or module:Class"):
        load_eval_spec(_spec(tmp_path, [{"label": "x", "builder": "resnet18"}]))
    with pytest.raises(UserError, match="a TorchScript or pickled model carries its weights"):
        load_eval_spec(_spec(tmp_path, [{"label": "x", "script": "m.ts", "checkpoint": "w.pt"}]))
