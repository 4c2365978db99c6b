"""Bad input in specs and on the command line: each case is exit 2 and one line
`raysweep: error: <problem>; <fix>` before any work, and nothing is written (no results folder,
no cache entry). Data files, tables and output folders are in tests/integration/test_bad_input_files.py."""
from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml


import sweep_fixtures
from user_errors import one_error_line
from raysweep.cli import main
from raysweep.config.schema import ATTACK_MAX_ROWS


def _set(*path_and_value):
    *path, value = path_and_value

    def apply(spec):
        node = spec
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
        node[path[-1]] = value
    return apply


def _fonts(**options):
    return _set("dataset", {"name": "fonts", "options": options})


SPEC_CASES = {
    "seed overflows": (_set("grid", "seed", [2**70]), "grid.seed[0]", "less than or equal to 4294967295"),
    "seed negative": (_set("grid", "seed", [-1]), "grid.seed[0]", "greater than or equal to 0"),
    "manifold seed overflows": (_set("manifolds", {"options": {"seed": 2**64}}), "manifolds.options.seed"),
    "300-character name": (_set("name", "a" * 300), "name: value 'aaaa", "(300 characters)", "at most 100 characters",
                           "shorten it"),
    "empty storage": (_set("storage", ""), "storage: value ''", "give a non-empty value"),
    "manifolds train_size negative": (_set("manifolds", {"options": {"train_size": -5}}),
                                      "manifolds.options.train_size: value -5"),
    "unknown manifolds option": (_set("manifolds", {"options": {"widht": 1}}), "manifolds.options.widht: unknown key"),
    "unknown vaegan key": (_set("manifolds", {"options": {"vaegan": {"widht": 0.5}}}), "has no parameter(s) widht"),
    "restarts beyond max_rows": (_set("evaluate", "attacks", 0, "restarts", 10**9), "evaluate.attacks[0]",
                                 f"exceed the attack's max_rows {ATTACK_MAX_ROWS}", "lower restarts"),
    "restarts beyond a set max_rows": (_set("evaluate", "attacks", 0, {"name": "linf", "samples": 10, "restarts": 60,
                                                                       "params": {"max_rows": 50}}),
                                       "restarts 60 exceed the attack's max_rows 50"),
    "samples x restarts too many rows": (_set("evaluate", "attacks", 0, {"name": "linf", "samples": 100_000,
                                                                         "restarts": 1000}),
                                         "100000000 rows exceed 250000"),
    "strategy param unknown": (_set("strategies", [{"name": "adversarial", "params": {"iteratons": 3}}]),
                               "has no parameter(s) iteratons"),
    "strategy param wrong type": (_set("strategies", [{"name": "adversarial", "params": {"iterations": "ten"}}]),
                                  "parameter iterations"),
    "duplicate strategy": (_set("strategies", [{"name": "normal"}, {"name": "normal"}]), "listed twice"),
    "duplicate grid value": (_set("grid", "seed", [1, 1]), "grid.seed: a value is listed twice"),
    "fonts train_size negative": (_fonts(train_size=-5), "fonts option train_size must be a positive integer"),
    "fonts train_size text": (_fonts(train_size="abc"), "fonts option train_size", "'abc'"),
    "fonts preset list": (_fonts(preset=["hard"]), "fonts option preset must be a preset name"),
    "fonts fonts_dir number": (_fonts(fonts_dir=5), "fonts option fonts_dir must be a folder path"),
    "fonts root number": (_fonts(root=5), "fonts option root must be a folder path, got 5"),
    "emnist root number": (_set("dataset", {"name": "emnist", "options": {"root": 5}}),
                           "emnist option root must be a folder path, got 5"),
    "celeba cache_dir list": (_set("dataset", {"name": "celeba", "options": {"cache_dir": ["x"]}}),
                              "celeba option cache_dir must be a folder path"),
}

# the spec as YAML text, for what a mapping cannot hold
TEXT_CASES = {
    "lr .inf": (lambda text: text.replace("train:\n", "train:\n  lr: .inf\n", 1), "train.lr: value inf",
                "use a finite number"),
    "duplicate top-level key": (lambda text: "retries: 0\n" + text, "key 'retries' appears twice", "keep one"),
    "duplicate nested key": (lambda text: text.replace("train:\n", "train:\n  epochs: 9\n", 1),
                             "key 'epochs' appears twice"),
}


@pytest.fixture
def spec_path(tmp_path, cache_dir):
    return tmp_path / "spec.yaml"


def _run_sweep(path: Path, storage: Path, capsys, *phrases: str) -> None:
    # A real run, not --dry-run: the spec must be refused before the driver writes anything.
    assert main(["sweep", str(path)]) == 2
    one_error_line(capsys, f"{path}: ", *phrases)
    assert not storage.exists()


@pytest.mark.parametrize("case", sorted(SPEC_CASES))
def test_bad_spec_values(case, spec_path, tmp_path, cache_dir, capsys):
    mutate, *phrases = SPEC_CASES[case]
    spec = copy.deepcopy(sweep_fixtures.tiny_spec(str(tmp_path / "out")))
    mutate(spec)
    spec_path.write_text(yaml.safe_dump(spec))
    _run_sweep(spec_path, tmp_path / "out", capsys, *phrases)
    assert not cache_dir.exists()


@pytest.mark.parametrize("case", sorted(TEXT_CASES))
def test_bad_spec_text(case, spec_path, tmp_path, capsys):
    edit, *phrases = TEXT_CASES[case]
    text = yaml.safe_dump(sweep_fixtures.tiny_spec(str(tmp_path / "out")), sort_keys=True)
    spec_path.write_text(edit(text))
    _run_sweep(spec_path, tmp_path / "out", capsys, *phrases)


@pytest.mark.parametrize("command", ["sweep", "tune-lambda"])
def test_random_bytes_are_not_a_spec(command, spec_path, capsys):
    spec_path.write_bytes(bytes(range(128, 256)) + os.urandom(200))  # not UTF-8 from the first byte
    assert main([command, str(spec_path)]) == 2
    one_error_line(capsys, "not a text file", "pass a YAML")


def test_yaml_merge_keys_are_not_duplicates(tmp_path):
    from raysweep.config.yaml_file import read_yaml

    p = tmp_path / "m.yaml"
    p.write_text("base: &b {epochs: 1, lr: 0.1}\ntrain:\n  <<: *b\n  epochs: 2\n")
    assert read_yaml(p, "sweep spec", "x")["train"] == {"epochs": 2, "lr": 0.1}


# --- lambda specs (raysweep tune-lambda) -------------------------------------------------------
def _lambda_spec(tmp_path, **changes) -> dict:
    spec = {"name": "fonts-tiny", "dataset": {"name": "fonts", "options": {"max_fonts": 3}},
            "storage": str(tmp_path / "results"), "budget": 1}
    spec.update(changes)
    return spec


LAMBDA_CASES = {
    "unknown vaegan key": ({"vaegan": {"widht": 0.5}}, "vaegan has no parameter(s) widht"),
    "name climbs out": ({"name": ".."}, "name: value '..'", "start with a letter or digit"),
    "name is a path": ({"name": "../elsewhere"}, "name: value '../elsewhere'"),
    "seed overflows Optuna's": ({"seed": 2**40}, "seed: value 1099511627776", "less than or equal to 4000"),
    "study_db not a URL": ({"study_db": "not a url"}, "study_db: not a database URL"),
    "study_db driver missing": ({"study_db": "nosuchdb://user:hunter2@host/db"}, "study_db: nosuchdb://user:***@host/db",
                                "install its driver"),
    "study_db in memory": ({"study_db": "sqlite://"}, "study_db: sqlite:// is in memory"),
    "study_db folder missing": ({"study_db": "sqlite:////no/such/folder/optuna.sqlite"}, "/no/such/folder/optuna.sqlite",
                                "does not exist"),
}


@pytest.mark.parametrize("case", sorted(LAMBDA_CASES))
def test_bad_lambda_spec(case, tmp_path, cache_dir, capsys):
    changes, *phrases = LAMBDA_CASES[case]
    path = tmp_path / "lambda.yaml"
    path.write_text(yaml.safe_dump(_lambda_spec(tmp_path, **changes)))
    assert main(["tune-lambda", str(path)]) == 2
    err = one_error_line(capsys, str(path), *phrases)
    assert "hunter2" not in err  # a database password never reaches the terminal or a log
    assert not (tmp_path / "results").exists() and not cache_dir.exists()


def test_lambda_table_rows_carry_no_database_url(tmp_path):
    import optuna

    from raysweep.config.lambda_spec import parse_lambda_spec
    from raysweep.manifold.lambda_score import best_row, study

    db = tmp_path / "studies.sqlite"
    spec = parse_lambda_spec(_lambda_spec(tmp_path, classes=[2], study_db=f"sqlite:///{db}"))
    s = study(spec, 2)
    s.add_trial(optuna.trial.create_trial(params={"lambda": 2.0}, value=0.5,
                                          distributions={"lambda": optuna.distributions.FloatDistribution(0.5, 10, log=True)}))
    row = best_row(spec, 2)
    assert row["lambda"] == 2.0 and row["study_name"] == "fonts-tiny-class-2"
    assert not any(str(db) in str(v) for v in row.values()), row  # the table goes to shared storage


# --- the cluster: address and resources --------------------------------------------------------
@pytest.mark.parametrize("address,phrase", [("foo", "not a Ray address"), ("127.0.0.1:1", "nothing answers there"),
                                            ("ray://127.0.0.1:1", "nothing answers there")])
def test_bad_address(address, phrase, spec_path, tmp_path, capsys, monkeypatch):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():  # connect() joins an existing Ray; this test needs a fresh driver
        pytest.skip("Ray already initialised in this process")
    spec_path.write_text(yaml.safe_dump(sweep_fixtures.tiny_spec(str(tmp_path / "out"))))
    assert main(["sweep", str(spec_path), "--address", address]) == 2
    one_error_line(capsys, f"--address {address}: {phrase}")
    assert not ray.is_initialized()
    assert not (tmp_path / "out" / "tiny" / "tables").exists()


@pytest.mark.ray
@pytest.mark.parametrize("resources,phrase", [
    ({"cpu": 64, "gpu": 0}, "strategies[0].resources asks for cpu 64, gpu 0"),
    ({"cpu": 1, "gpu": 2}, "strategies[0].resources asks for cpu 1, gpu 2"),
])
def test_request_no_node_can_hold(resources, phrase, ray_local, spec_path, tmp_path, capsys):
    spec = sweep_fixtures.tiny_spec(str(tmp_path / "out"))
    spec["strategies"] = [{"name": "normal", "resources": resources}]
    spec_path.write_text(yaml.safe_dump(spec))
    assert main(["sweep", str(spec_path)]) == 2  # the fixture's Ray: 2 CPUs, 1 (fake) GPU
    one_error_line(capsys, phrase, "has cpu 2, gpu 1", "lower the request")
    sweep_dir = tmp_path / "out" / "tiny"
    assert not (sweep_dir / "tables").exists() and not (sweep_dir / "tune").exists()  # no trial started


def test_schema_row_bound_is_the_attacks_working_batch():
    """The spec's restarts bound assumes the attacks' default max_rows; they must not drift apart."""
    from raysweep.attacks.apgd import APGDConfig
    from raysweep.attacks.base import AttackConfig

    assert AttackConfig().max_rows == ATTACK_MAX_ROWS == APGDConfig().max_rows
