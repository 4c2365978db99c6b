"""Sweep specs: every shipped spec parses; every bad spec is one line and exit 2 before any work;
trial ids are deterministic and change with anything that changes a result."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml


import sweep_fixtures
from raysweep.cli import main
from raysweep.config import parse_spec
from raysweep.resolve.trials import expand
from raysweep.resolve.validate import load_spec, validate_and_resolve
from raysweep._core.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ["fonts-smoke", "fonts-paper", "emnist-paper", "fmnist-paper", "celeba-paper"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_specs_parse(name):
    path = ROOT / "sweeps" / f"{name}.yaml"
    spec = parse_spec(yaml.safe_load(path.read_text()), str(path))
    assert spec.name == name
    assert len(expand(spec)) == len(spec.grid.n) * len(spec.grid.seed) * len(spec.grid.arch) * len(spec.strategies)
    if name != "fonts-smoke":
        assert len(spec.grid.seed) == 5 and min(spec.grid.n) == 250  # the paper's grids


def _write(tmp_path, spec: dict) -> str:
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(spec))
    return str(p)


def test_good_tiny_spec_validates(tmp_path):
    spec = load_spec(_write(tmp_path, sweep_fixtures.tiny_spec(str(tmp_path))))
    assert [t.n for t in expand(spec)] == [50, 50, 100, 100]


def _mutate(path, value):
    def apply(spec):
        node = spec
        for k in path[:-1]:
            node = node[k]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return spec
    return apply


_DELETE = object()
BAD = {
    "unknown top key": (_mutate(["colour"], "red"), "colour: unknown key"),
    "unknown nested key": (_mutate(["train", "epoch"], 3), "train.epoch: unknown key"),
    "wrong type": (_mutate(["train", "epochs"], "many"), "train.epochs: value 'many'"),
    "missing dataset": (_mutate(["dataset"], _DELETE), "dataset: required key is missing"),
    "empty n grid": (_mutate(["grid", "n"], []), "grid.n"),
    "empty seed grid": (_mutate(["grid", "seed"], []), "grid.seed"),
    "no strategies": (_mutate(["strategies"], []), "strategies"),
    "unknown strategy": (_mutate(["strategies"], [{"name": "magic"}]), "strategies[0].name: unknown strategy 'magic'"),
    "unknown arch": (_mutate(["grid", "arch"], ["transformer"]), "grid.arch[0]: unknown model 'transformer'"),
    "unknown dataset": (_mutate(["dataset", "name"], "imagenet"), "dataset.name: unknown dataset 'imagenet'"),
    "unknown attack": (_mutate(["evaluate"], {"attacks": [{"name": "laser"}]}), "evaluate.attacks[0].name: unknown attack 'laser'"),
    "N too large": (_mutate(["grid", "n"], [99999]), "grid.n: value 99999 exceeds the 400 training images of tiny; lower it"),
    "N below classes": (_mutate(["grid", "n"], [5]), "grid.n: value 5 is below the 10 classes"),
    "negative gpu": (_mutate(["resources"], {"cpu": 1, "gpu": -1}), "resources.gpu"),
    "zero cpu": (_mutate(["resources"], {"cpu": 0, "gpu": 0.5}), "resources.cpu"),
    "distance on missing attack": (_mutate(["evaluate", "distances"], [{"method": "knn", "attack": "cw"}]), "attack 'cw' is not in evaluate.attacks"),
    "bad sweep name": (_mutate(["name"], "a b/c"), "name: value 'a b/c'"),
    "bad attack param": (_mutate(["evaluate"], {"attacks": [{"name": "linf", "params": {"epsilon": 1}}]}), "evaluate.attacks[0].params: attack 'linf' has no parameter(s) epsilon"),
    "knn options on true": (_mutate(["evaluate", "distances"], [{"method": "true", "attack": "linf", "k": 3}]), "k and center apply to method knn only"),
    "bad trial fn": (_mutate(["trial"], "nowhere:fn"), "trial: cannot load 'nowhere:fn'"),
    "bad plugin": (_mutate(["plugins"], ["no_such_plugin_mod"]), "plugins: cannot import 'no_such_plugin_mod'"),
    # checked at load through the registries (before: inside every trial, after its retries)
    "strategy param typo": (_mutate(["strategies"], [{"name": "adversarial", "params": {"iteratons": 3}}]),
                            "strategies[0].params: strategy 'adversarial' has no parameter(s) iteratons"),
    "strategy param value": (_mutate(["strategies"], [{"name": "adversarial", "params": {"variant": "huge"}}]),
                             "strategies[0].params: unknown training variant 'huge'"),
    "strategy param type": (_mutate(["strategies"], [{"name": "adversarial", "params": {"iterations": "ten"}}]),
                            "strategies[0].params: strategy 'adversarial': parameter iterations"),
    "unknown manifold option": (_mutate(["manifolds"], {"options": {"widht": 1}}), "manifolds.options.widht: unknown key"),
    "unknown vaegan key": (_mutate(["manifolds"], {"options": {"vaegan": {"widht": 0.5}}}),
                           "manifolds.options.vaegan has no parameter(s) widht"),
    "vaegan wrong type": (_mutate(["manifolds"], {"options": {"vaegan": {"epochs": "ten"}}}),
                          "manifolds.options.vaegan: parameter epochs"),
    "unknown dataset option": (_mutate(["dataset"], {"name": "fonts", "options": {"presett": "easy"}}),
                               "dataset.options: unknown fonts option(s) ['presett']"),
    "duplicate strategy": (_mutate(["strategies"], [{"name": "normal"}, {"name": "normal"}]), "listed twice"),
    "duplicate grid value": (_mutate(["grid", "n"], [50, 50]), "grid.n: a value is listed twice"),
    "true manifold off fonts": (_mutate(["strategies"], [{"name": "onmanifold_true"}]), "has no true manifold"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_spec_is_one_line_exit_2(case, tmp_path, capsys):
    if "attack" in case:
        pytest.importorskip("raysweep.attacks", reason="attack registry not installed")
    mutate, expected = BAD[case]
    path = _write(tmp_path, mutate(copy.deepcopy(sweep_fixtures.tiny_spec(str(tmp_path)))))
    assert main(["sweep", path, "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"raysweep: error: {path}: "), err
    assert expected in err


@pytest.mark.parametrize("text,expected", [("name: [unclosed", "not valid YAML"), ("- a\n- b\n", "must be a YAML mapping")])
def test_unparsable_spec(tmp_path, capsys, text, expected):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    assert main(["sweep", str(p), "--dry-run"]) == 2
    assert expected in capsys.readouterr().err


def test_missing_spec_file(capsys):
    assert main(["sweep", "sweeps/no-such.yaml", "--dry-run"]) == 2
    assert "no such sweep spec" in capsys.readouterr().err


def test_trial_ids_deterministic_and_sensitive(tmp_path):
    base = sweep_fixtures.tiny_spec(str(tmp_path))
    ids = [t.trial_id for t in expand(parse_spec(base))]
    assert ids == [t.trial_id for t in expand(parse_spec(copy.deepcopy(base)))]
    assert len(set(ids)) == len(ids)
    # storage, concurrency and resources do not change results: same ids
    same = dict(base, storage="elsewhere", concurrency=3, resources={"cpu": 2, "gpu": 0})
    assert ids == [t.trial_id for t in expand(parse_spec(same))]
    # training settings do: new ids
    other = dict(base, train={"epochs": 3, "batch_size": 50})
    assert not set(ids) & {t.trial_id for t in expand(parse_spec(other))}


def test_dry_run_prints_plan(tmp_path, capsys):
    path = _write(tmp_path, sweep_fixtures.tiny_spec(str(tmp_path / "out")))
    assert main(["sweep", path, "--dry-run"]) == 0
    out = capsys.readouterr().out  # the plan is the command's output: stdout
    assert "4 of 4 trials to run" in out
    assert "normal: 4 trials x (cpu 0.5, gpu 0.1)" in out
    assert "estimated cost:" in out and "GPU-hours" in out
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


def test_unknown_name_raises_usererror_in_library(tmp_path):
    spec = sweep_fixtures.tiny_spec(str(tmp_path))
    spec["strategies"] = [{"name": "nope"}]
    with pytest.raises(UserError, match="choose one of"):
        load_spec(_write(tmp_path, spec))


def test_arch_entries_carry_options_through_validation_resolution_and_rows():
    """grid.arch: {name: resnet13, width: 4} reaches the model factory; a bare name keeps its old id."""
    from raysweep.config.arch import ArchSpec
    from raysweep.results.rows import config_columns

    base = {"name": "a", "dataset": {"name": "fonts"}, "grid": {"n": [100], "seed": [0]},
            "strategies": [{"name": "normal"}]}
    plain = validate_and_resolve(parse_spec(base), "s", with_data=False)[1][0]
    arch = [{"name": "resnet13", "width": 0.25}, "cnn", {"name": "mlp", "options": {"hidden": 8, "depth": 2}}]
    spec = validate_and_resolve(parse_spec({**base, "grid": {**base["grid"], "arch": arch}}), "s", with_data=False)[0]
    trials = expand(spec)
    assert [t.arch for t in trials] == [ArchSpec(name="resnet13", options={"width": 0.25}), ArchSpec(name="cnn"),
                                        ArchSpec(name="mlp", options={"hidden": 8, "depth": 2})]
    assert trials[1].trial_id == plain.trial_id  # option-less entries serialise to the bare name
    assert len({t.trial_id for t in trials}) == 3
    assert config_columns(trials[0])["arch"] == "resnet13(width=0.25)"
    assert type(trials[0]).from_dict(trials[0].to_dict()) == trials[0]
    with pytest.raises(UserError, match=r"grid\.arch\[0\]"):
        validate_and_resolve(parse_spec({**base, "grid": {**base["grid"], "arch": [{"name": "cnn", "depth_bogus": 3}]}}),
                             "s", with_data=False)
    with pytest.raises(UserError, match="grid.arch: a value is listed twice"):
        parse_spec({**base, "grid": {**base["grid"], "arch": ["cnn", {"name": "cnn"}]}})
