"""`raysweep train` and `raysweep list`: bad input gives exit 2 and one line; a tiny run works."""
import subprocess
import sys

import pytest
import torch

from raysweep.cli import main
from raysweep.data.batch import Split
from raysweep.data.dataset import DATASETS, Dataset

PY = [sys.executable, "-m", "raysweep.cli"]
TINY = "tiny-test-bands"


def _split(n: int, seed: int) -> Split:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    x = torch.randint(0, 60, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    for k in range(4):
        x[y == k, :, 7 * k:7 * (k + 1), :] = 250
    return Split(x, y)


if TINY not in DATASETS:
    @DATASETS.register(TINY, "four-class synthetic bands, for tests")
    def _tiny(**_options) -> Dataset:
        return Dataset(TINY, _split(80, 0), _split(40, 1), n_classes=4, data_hash="tiny")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PY, *args], capture_output=True, text=True, timeout=120)


def assert_one_line_error(proc_or_err: str, needle: str) -> None:
    lines = proc_or_err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("raysweep: error:"), proc_or_err
    assert needle in lines[0]


def test_unknown_arch_exits_2_with_one_line_from_a_real_process():
    proc = cli("train", "--dataset", "fonts", "--n", "100", "--arch", "nope")
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, "cnn")


@pytest.mark.parametrize("args, needle", [
    (["--n", "0"], "--n"),
    (["--n", "100", "--epochs", "0"], "--epochs"),
    (["--n", "100", "--strategy", "nope"], "normal"),
    (["--n", "100", "--threads", "0"], "--threads"),
])
def test_bad_train_arguments_exit_2_with_one_line(args, needle, capsys):
    assert main(["train", "--dataset", "fonts", *args]) == 2
    assert_one_line_error(capsys.readouterr().err, needle)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has a GPU")
def test_cuda_without_gpu_is_a_user_error(capsys):
    assert main(["train", "--n", "10", "--device", "cuda"]) == 2
    assert_one_line_error(capsys.readouterr().err, "--device cpu")


def test_n_larger_than_the_training_split(capsys):
    assert main(["train", "--dataset", TINY, "--n", "81", "--device", "cpu"]) == 2
    assert_one_line_error(capsys.readouterr().err, "81")


def test_tiny_training_run_prints_test_error(capsys):
    assert main(["train", "--dataset", TINY, "--n", "40", "--epochs", "2", "--seed", "1", "--device", "cpu",
                 "--threads", "1"]) == 0
    out = capsys.readouterr().out
    figures = dict(line.split(": ") for line in out.splitlines() if ": " in line)
    assert float(figures["test_error"]) < 0.5  # chance is 0.75; the bands are easy
    assert float(figures["train_time_s"]) > 0
    assert out.count("epoch ") == 2


def test_list_models_from_a_real_process():
    proc = cli("list", "models")
    assert proc.returncode == 0
    names = [line.split()[0] for line in proc.stdout.splitlines() if line.endswith("(raysweep)")]
    assert names == ["cnn", "mlp", "resnet13", "vgg"]  # the built-ins; installed plugins may add more
    assert all(len(line.split(maxsplit=1)) == 2 for line in proc.stdout.splitlines())  # name + description


def test_list_strategies_and_datasets_in_process(capsys):
    assert main(["list", "strategies"]) == 0
    assert "normal" in capsys.readouterr().out.split()
    assert main(["list", "datasets"]) == 0
    assert TINY in capsys.readouterr().out.split()


def test_list_unknown_kind_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["list", "widgets"])
    assert exit_info.value.code == 2


def test_train_runs_a_true_manifold_strategy_on_fonts(cache_dir, capsys):
    """The FONTS true manifold is built locally, so on-manifold training needs no sweep."""
    from raysweep.cli import main

    code = main(["train", "--dataset", "fonts", "--n", "100", "--epochs", "1", "--strategy", "onmanifold_true"])
    assert code == 0
    assert "test_error:" in capsys.readouterr().out


def test_train_refuses_a_learned_manifold_strategy_with_one_line(capsys):
    from raysweep.cli import main

    assert main(["train", "--n", "100", "--strategy", "onmanifold_class"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "raysweep sweep" in err[0]
