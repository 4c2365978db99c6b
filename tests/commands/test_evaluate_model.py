"""`raysweep evaluate MODEL`: a model you already have, evaluated by one command, the way
AutoAttack and RobustBench users expect: a TorchScript file and the same model as module:Class
give the same numbers; `raysweep train --out` then `evaluate` reproduces the test error; a rerun
reuses finished rows; every bad file or name is one line, exit 2, and nothing written."""
from __future__ import annotations

import pandas as pd
import pytest
import torch

from raysweep.cli import main
from tests.byo_model import SmallNet
from tests.commands.test_train import TINY  # registers the four-class tiny data set in this process

ATTACKS = ["--attacks", "linf,apgd_ce", "--samples", "20"]


@pytest.fixture
def model_files(tmp_path):
    torch.manual_seed(0)
    model = SmallNet().eval()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    torch.jit.save(torch.jit.script(model), str(tmp_path / "model.ts"))
    torch.save(model, tmp_path / "whole.pt")  # a pickled module
    return tmp_path


def evaluate(out, name: str, *target: str) -> int:
    return main(["evaluate", *target, "--dataset", TINY, *ATTACKS, "--storage", str(out), "--name", name, "--no-report"])


def trials(out, name: str) -> pd.DataFrame:
    return pd.read_parquet(out / name / "tables" / "trials")


def test_torchscript_and_module_class_give_the_same_numbers(model_files, capsys):
    out = model_files / "out"
    assert evaluate(out, "ts", str(model_files / "model.ts")) == 0
    assert evaluate(out, "cls", "tests.byo_model:SmallNet", "--weights", str(model_files / "weights.pt")) == 0
    assert evaluate(out, "fn", "tests.byo_model:make_small", "--weights", str(model_files / "weights.pt")) == 0
    cols = ["test_error", "clean_acc", "linf.robust_acc", "apgd_ce.robust_acc", "robust_acc_worst",
            "linf.success_rate_any", "apgd_ce.success_rate_any"]
    ts, cls, fn = (trials(out, n)[cols].iloc[0] for n in ("ts", "cls", "fn"))
    pd.testing.assert_series_equal(ts, cls, check_names=False)
    pd.testing.assert_series_equal(ts, fn, check_names=False)
    assert ts["robust_acc_worst"] <= min(ts["linf.robust_acc"], ts["apgd_ce.robust_acc"]) <= ts["clean_acc"]
    assert "robust accuracy" in capsys.readouterr().out
    assert trials(out, "ts")["arch"].iloc[0] == "torchscript:model.ts"


def test_a_pickled_module_needs_trust(model_files, capsys):
    out = model_files / "out"
    assert evaluate(out, "p", str(model_files / "whole.pt")) == 2
    assert "--trust-pickle" in capsys.readouterr().err and not out.exists()
    assert evaluate(out, "p", str(model_files / "whole.pt"), "--trust-pickle") == 0


def test_train_out_then_evaluate_reproduces_the_test_error(tmp_path, capsys):
    assert main(["train", "--dataset", TINY, "--n", "40", "--epochs", "3", "--out", str(tmp_path / "m")]) == 0
    trained = float(next(line for line in capsys.readouterr().out.splitlines()
                         if line.startswith("test_error:")).split()[1])
    args = ["evaluate", str(tmp_path / "m"), *ATTACKS, "--storage", str(tmp_path / "out"), "--no-report"]
    assert main(args) == 0
    row = pd.read_parquet(tmp_path / "out" / "eval-m" / "tables" / "trials").iloc[0]
    assert row["test_error"] == pytest.approx(trained, abs=5e-5) and row["n"] == 40 and row["arch"] == "cnn"
    files = sorted((tmp_path / "out" / "eval-m" / "tables" / "trials").glob("*.parquet"))
    capsys.readouterr()
    assert main(args) == 0  # a rerun: the row exists, nothing is evaluated again
    assert "reused" in capsys.readouterr().out
    assert sorted((tmp_path / "out" / "eval-m" / "tables" / "trials").glob("*.parquet")) == files


@pytest.mark.parametrize("make_target, needle", [
    (lambda d: [str(d / "garbage.bin")], "neither a TorchScript file, a state dict nor a pickled module"),
    (lambda d: [str(d / "weights.pt")], "a state dict holds weights but no architecture"),
    (lambda d: ["tests.byo_model:SmallNet", "--weights", str(d / "model.ts")], "is a TorchScript file, not a state dict"),
    (lambda d: ["tests.byo_model:SmallNet", "--weights", str(d / "whole.pt")], "holds pickled objects"),
    (lambda d: ["tests.byo_model:SmallNet", "--weights", str(d / "wrong.pt")], "do not fit"),
    (lambda d: ["tests.no_such_module:Net", "--weights", str(d / "weights.pt")], "cannot import"),
    (lambda d: ["tests.byo_model:Nope", "--weights", str(d / "weights.pt")], "no class or function 'Nope'"),
    (lambda d: ["cnn"], "needs its trained weights"),
    (lambda d: [str(d / "nowhere")], "not a file, a folder"),
])
def test_bad_models_are_one_line_and_write_nothing(model_files, make_target, needle, capsys):
    (model_files / "garbage.bin").write_bytes(b"\x00not a model at all")
    torch.save({"conv.weight": torch.zeros(1)}, model_files / "wrong.pt")
    out = model_files / "out"
    assert evaluate(out, "bad", *make_target(model_files)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("raysweep: error:") and needle in err[0], err
    assert not out.exists()  # no results folder, no lease


def test_the_evaluation_report_leads_with_robust_accuracy(model_files):
    out = model_files / "out"
    assert main(["evaluate", str(model_files / "model.ts"), "--dataset", TINY, *ATTACKS, "--storage", str(out),
                 "--name", "rep"]) == 0
    text = (out / "rep" / "analysis" / "report.md").read_text()
    first = text.split("## ")[1]
    assert first.startswith("Robust accuracy") and "| model | N | seed | clean | apgd_ce | linf | worst case |" in first
    assert "| model " in first and "\n| model |" in first and "| model.ts" not in first  # the label, not the file
    assert "not measured" not in text  # claims an evaluation cannot measure are left out, not listed
