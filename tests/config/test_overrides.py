"""Overrides as people type them: `raysweep sweep SPEC key=value ...` beside --set, and list
paths as the error messages print them (`evaluate.attacks[0].samples`), each validated like the
spec file; a bad path or a bare word is one line."""
from __future__ import annotations

import pytest

from raysweep.cli import main
from raysweep.config.overrides import apply_overrides, parse_override
from raysweep._core.errors import UserError

SPEC = {"train": {"epochs": 20}, "evaluate": {"attacks": [{"name": "linf", "samples": 300}, {"name": "l2"}]}}


@pytest.mark.parametrize("text", ["evaluate.attacks[1].samples=7", "evaluate.attacks.1.samples=7"])
def test_bracket_and_dotted_indices_are_one_path(text):
    assert parse_override(text)[0] == ["evaluate", "attacks", "1", "samples"]
    assert apply_overrides(SPEC, [text])["evaluate"]["attacks"][1]["samples"] == 7
    assert SPEC["evaluate"]["attacks"][1] == {"name": "l2"}  # the original is not touched


def test_an_index_past_the_list_is_one_line():
    with pytest.raises(UserError, match=r"'5' is not an index of a list of 2"):
        apply_overrides(SPEC, ["evaluate.attacks[5].samples=1"])


def test_sweep_takes_key_value_after_the_spec(capsys):
    assert main(["sweep", "sweeps/fonts-smoke.yaml", "train.epochs=2", "evaluate.attacks[0].samples=50",
                 "--dry-run"]) == 0
    plain = capsys.readouterr().out
    assert main(["sweep", "sweeps/fonts-smoke.yaml", "--dry-run"]) == 0
    assert plain != capsys.readouterr().out  # the overrides changed the plan (cost, ids)
    assert main(["sweep", "sweeps/fonts-smoke.yaml", "--set", "train.epochs=2", "--dry-run",
                 "evaluate.attacks.0.samples=50"]) == 0
    assert capsys.readouterr().out == plain  # --set and key=value are one mechanism


@pytest.mark.parametrize("argv, needle", [
    (["sweep", "sweeps/fonts-smoke.yaml", "train.epochs", "--dry-run"], "overrides after the spec are key=value"),
    (["sweep", "sweeps/fonts-smoke.yaml", "evaluate.attacks[0].sample=5", "--dry-run"],
     "evaluate.attacks[0].sample: unknown key"),
])
def test_bad_overrides_are_one_line(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
