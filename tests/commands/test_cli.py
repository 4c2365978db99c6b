"""The command line as a user meets it: `--help` without torch or Ray, `--version`,
whole one-line descriptions, `--set` overrides validated like the spec, `--json` of `list`."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from raysweep import __version__, cli
from raysweep.config.overrides import apply_overrides
from raysweep._core.errors import UserError
from raysweep.resolve.validate import load_spec

HEAVY = ("torch", "ray", "pandas", "pyarrow", "matplotlib", "numpy")


def test_help_imports_neither_torch_nor_ray():
    code = ("import sys, contextlib, io\n"
            "from raysweep import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    cli.build_parser().print_help()\n"
            "    for name, p in cli.build_parser()._subparsers._group_actions[0].choices.items():\n"
            "        p.format_help()\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_the_control_sees_torch_when_it_is_imported():
    """Control: the sys.modules check would notice a command that imports torch at the top."""
    code = "import sys\nimport raysweep.trial\nprint('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "True"


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"raysweep {__version__}"


def test_every_description_is_a_whole_sentence():
    sub = cli.build_parser()._subparsers._group_actions[0]
    assert set(sub.choices) >= {"data", "train", "list", "sweep", "evaluate", "tables", "tune-lambda", "analyze"}
    for name, p in sub.choices.items():
        assert p.description and p.description.rstrip().endswith((".", ")")), (name, p.description)
        assert "\n" not in p.description


def test_overrides_set_nested_keys_and_list_items():
    data = {"train": {"epochs": 20}, "strategies": [{"name": "normal"}, {"name": "adversarial"}]}
    out = apply_overrides(data, ["train.epochs=2", "strategies.1.params.eps=0.1", "grid.n=[10, 20]"])
    assert out == {"train": {"epochs": 2}, "grid": {"n": [10, 20]},
                   "strategies": [{"name": "normal"}, {"name": "adversarial", "params": {"eps": 0.1}}]}
    assert data["train"]["epochs"] == 20  # the caller's mapping is left alone


@pytest.mark.parametrize("bad, message", [
    ("train.epochs", "expected key.path=value"),
    ("strategies.5.name=x", "not an index of a list of 1"),
    ("train.epochs.x=1", "not a mapping"),
])
def test_bad_overrides_are_one_line_errors(bad, message):
    with pytest.raises(UserError, match=message):
        apply_overrides({"train": {"epochs": 3}, "strategies": [{"name": "normal"}]}, [bad])


def test_overrides_are_validated_like_the_spec(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ndataset: {name: fonts}\ngrid: {n: [100], seed: [0]}\nstrategies: [{name: normal}]\n")
    spec = load_spec(path, check_data=False, overrides=["train.epochs=3", "grid.seed=[1,2]"])
    assert spec.train.epochs == 3 and spec.grid.seed == [1, 2]
    with pytest.raises(UserError, match=r"with --set train\.epochs=0.*train\.epochs"):
        load_spec(path, check_data=False, overrides=["train.epochs=0"])
    with pytest.raises(UserError, match="train.epoch: unknown key"):
        load_spec(path, check_data=False, overrides=["train.epoch=3"])
    with pytest.raises(UserError, match="unknown strategy 'nosuch'"):
        load_spec(path, check_data=False, overrides=["strategies.0.name=nosuch"])


def test_list_json_names_every_entry_with_its_origin(capsys):
    assert cli.main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    kinds = {r["kind"] for r in rows}
    assert kinds == {"attacks", "datasets", "distances", "models", "strategies"}
    pgd = next(r for r in rows if r["name"] == "linf")
    assert pgd["distribution"] == "raysweep" and pgd["module"].startswith("raysweep.attacks")
    assert cli.main(["list", "models"]) == 0
    assert "cnn" in capsys.readouterr().out


def test_dry_run_plan_and_trial_list_on_stdout_with_overrides(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\ndataset: {{name: fonts}}\ngrid: {{n: [100], seed: [0]}}\nstorage: {tmp_path}\n"
                    "strategies: [{name: normal}]\n")
    assert cli.main(["sweep", str(path), "--dry-run", "--list", "--set", "grid.seed=[1,2,3]",
                     "--set", "grid.arch=[cnn, {name: mlp, depth: 2}]"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("sweep s: 6 of 6 trials to run") and err == ""
    lines = [line for line in out.splitlines() if line.endswith("pending")]
    assert len(lines) == 6 and sum("mlp(depth=2)" in line for line in lines) == 3
    assert cli.main(["sweep", str(path), "--list"]) == 2  # --list without --dry-run is a one-line error
