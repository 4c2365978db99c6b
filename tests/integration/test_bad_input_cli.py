"""Bad input that used to escape as a traceback or a wrong exit code, one test per class of input:
files of one table that disagree on a column's type, a command-line number out of range for the
typed config, and no command at all. Each is one line (or, for the type clash, a documented
coercion that reads both files and says so)."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raysweep._core import storage
from raysweep.cli import main
from raysweep.results.reader import read_kind
from tests.commands.test_train import TINY


def write_trials(folder, **columns_by_file):
    (folder / "trials").mkdir(parents=True)
    for name, cols in columns_by_file.items():
        pq.write_table(pa.table({"trial_id": [name], "status": ["ok"], **cols}), folder / "trials" / f"{name}.parquet")


def test_a_column_whose_type_changed_between_files_is_read_as_text_with_a_warning(tmp_path, capsys):
    write_trials(tmp_path, a={"strategy.iterations": pa.array([10.0])}, b={"strategy.iterations": pa.array(["ten"])})
    table = read_kind(storage.resolve(str(tmp_path)), "trials").to_pandas().set_index("trial_id")
    assert table.loc["a", "strategy.iterations"] == "10" and table.loc["b", "strategy.iterations"] == "ten"
    err = capsys.readouterr().err
    assert "column 'strategy.iterations' has types double, string" in err and len(err.strip().splitlines()) == 1


def test_control_types_arrow_can_promote_stay_numbers_without_a_warning(tmp_path, capsys):
    write_trials(tmp_path, a={"strategy.iterations": pa.array([10], pa.int64())},
                 b={"strategy.iterations": pa.array([2.5])})
    table = read_kind(storage.resolve(str(tmp_path)), "trials").to_pandas()
    assert sorted(table["strategy.iterations"]) == [2.5, 10.0] and capsys.readouterr().err == ""


def test_the_tables_command_reads_a_type_clash(tmp_path, capsys):
    common = {"test_error": [0.1], "strategy": ["adversarial"], "n": [10]}
    write_trials(tmp_path / "s" / "tables", a={**common, "strategy.iterations": [10.0]},
                 b={**common, "strategy.iterations": ["10"]})
    assert main(["tables", str(tmp_path / "s"), "--json"]) == 0
    assert '"trials": 2' in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["train", "--dataset", TINY, "--n", "40", "--epochs", "1", "--seed", "99999999999999999999"],
    ["evaluate", "cnn", "--weights", "w.pt", "--dataset", TINY, "--seed", "99999999999999999999"],
])
def test_a_number_out_of_range_is_one_line_exit_2(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("raysweep: error:") and "99999999999999999999" in err[0], err


def test_no_command_is_one_line_exit_2(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "name a command" in err[0]


@pytest.mark.parametrize("peer, package", [("torchattacks", "torchattacks"), ("autoattack", "pyautoattack")])
def test_a_peer_attack_without_its_package_names_the_extra(peer, package, monkeypatch, capsys):
    import importlib.util

    from raysweep.attacks import peers

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a))
    assert main(["evaluate", "cnn", "--weights", "w.pt", "--dataset", TINY, "--attacks", peer]) == 2
    err = capsys.readouterr().err
    assert f"needs the package {package}" in err and "[peers]" in err
    assert main(["list", "attacks"]) == 0
    assert f"{peer}  " in capsys.readouterr().out and peers.missing_peer(peer)


@pytest.mark.parametrize("ref, needle", [("tests.byo_callback:NotACallback", "not a ray.tune.Callback subclass"),
                                         ("tests.no_such_tracker:Cb", "cannot import"),
                                         ("not a ref", "callbacks[0].name")])
def test_a_callback_that_is_not_a_tune_callback_is_one_line(ref, needle, tmp_path, capsys):
    from tests.sweep_fixtures import spec_file

    path = spec_file(tmp_path, callbacks=[ref])
    assert main(["sweep", path, "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_control_a_tune_callback_class_passes_validation(tmp_path, capsys):
    from tests.sweep_fixtures import spec_file

    path = spec_file(tmp_path, callbacks=[{"name": "tests.byo_callback:CountResults", "options": {"out": "x"}}])
    assert main(["sweep", path, "--dry-run"]) == 0
