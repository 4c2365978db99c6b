"""Optuna lambda per class: the spec, the CLI's errors, and a tiny FONTS search
whose study resumes and whose table the manifold actors read."""
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from raysweep.cli import main
from raysweep.config.lambda_spec import parse_lambda_spec
from raysweep.resolve.validate import load_lambda_spec
from raysweep._core.errors import UserError

SWEEPS = sorted((Path(__file__).resolve().parents[2] / "sweeps").glob("*-lambda.yaml"))


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_shipped_lambda_specs_validate(path):
    spec = load_lambda_spec(path)
    assert spec.dataset.name in path.name and spec.lambda_range.low < spec.lambda_range.high
    assert spec.table_path().endswith(f"{spec.name}/lambda.parquet")


@pytest.mark.parametrize("change, message", [
    ({"lambda_range": {"low": 5, "high": 1}}, "lambda_range"),
    ({"budget": 0}, "budget"),
    ({"classes": []}, "classes"),
    ({"objective": {"held_out": 50, "l1_weight": 2}}, "objective.l1_weight"),
    ({"storage": "s3://bucket/x"}, "study_db"),
])
def test_bad_specs_name_the_key(change, message):
    base = {"name": "t", "dataset": {"name": "fonts"}}
    with pytest.raises(UserError, match=message):
        parse_lambda_spec({**base, **change}).study_url()


def test_cli_bad_spec_exits_2_with_one_line(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"name": "t", "dataset": {"name": "fonts"}, "budget": -1}))
    assert main(["tune-lambda", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("raysweep: error:") and "budget" in err and len(err.splitlines()) == 1


def test_score_without_true_manifold_uses_l1_and_frechet(tmp_path, monkeypatch):
    """The EMNIST/F-MNIST/CelebA objective path (run on FONTS with its true manifold hidden):
    a classifier is trained once for the features, and the score is l1 + w * frechet."""
    from raysweep.data import load_dataset
    from raysweep.manifold import lambda_score as ls

    data = {"name": "fonts", "options": {"max_fonts": 3, "train_size": 600, "test_size": 120,
                                         "cache_dir": str(tmp_path / "cache")}}
    spec = parse_lambda_spec({"name": "t", "dataset": data, "storage": str(tmp_path), "train_size": 60,
                              "vaegan": {"width": 0.125, "epochs": 1},
                              "objective": {"held_out": 12, "frechet_weight": 0.5, "classifier_epochs": 1}})
    monkeypatch.setattr(ls, "has_true_manifold", lambda ds: False)
    ls.ensure_feature_classifier(spec, load_dataset("fonts", **data["options"]), torch.device("cpu"))
    scores = ls.score_lambda(spec, 4, 2.0, torch.device("cpu"))
    assert scores["objective"] == pytest.approx(scores["l1"] + 0.5 * scores["frechet"])
    assert 0 < scores["l1"] < 1 and scores["frechet"] > 0



@pytest.mark.ray
@pytest.mark.timeout(300)
def test_fonts_search_writes_table_and_resumes_its_study(ray_local, tmp_path):
    import optuna

    from raysweep.config.schema import ActorResources, DatasetSpec, ManifoldOptions
    from raysweep.tune.actors import ensure_manifold_actors, teardown
    from raysweep.tune.lambda_search import run_lambda_search
    from raysweep.manifold.lambda_score import completed, study as _study

    data = {"name": "fonts", "options": {"max_fonts": 3, "train_size": 600, "test_size": 120,
                                         "cache_dir": str(tmp_path / "cache")}}
    spec = parse_lambda_spec({
        "name": "fonts-tiny", "dataset": data, "storage": str(tmp_path / "results"), "classes": [2],
        "lambda_range": {"low": 1.0, "high": 8.0}, "budget": 1, "concurrency": 1, "train_size": 60,
        "vaegan": {"width": 0.125, "epochs": 1}, "objective": {"held_out": 12},
    })
    first = run_lambda_search(spec)
    assert Path(spec.table_path()).is_file() and (tmp_path / "results" / "fonts-tiny" / "optuna.sqlite").is_file()
    assert first["class"].tolist() == [2] and first["n_trials"].tolist() == [1]
    assert 1.0 <= first["lambda"][0] <= 8.0 and first["objective"][0] > 0
    assert first["paper_lambda"][0] == 3.0

    # A second run with a larger budget continues the same study (sqlite), it does not restart it.
    second = run_lambda_search(spec.model_copy(update={"budget": 2}))
    study_2 = _study(spec, 2)
    assert len(completed(study_2)) == 2 and second["n_trials"].tolist() == [2]
    values = [t.params["lambda"] for t in completed(study_2)]
    assert len(set(values)) == 2  # the resumed run proposed a new lambda
    assert second["objective"][0] == min(t.value for t in completed(study_2))
    assert optuna.study.get_all_study_names(spec.study_url()) == ["fonts-tiny-class-2"]

    # The actors train final VAE-GANs with the tuned lambda.
    table = pd.read_parquet(spec.table_path())
    options = ManifoldOptions(vaegan={"width": 0.125, "epochs": 1}, train_size=60, lambda_table=spec.table_path())
    handles = ensure_manifold_actors(DatasetSpec(**data), ["class"], str(tmp_path / "store"),
                                     ActorResources(cpu=0, gpu=0.05), classes=[2], options=options)
    info = ray_local.get(handles.actors["class"][2].info.remote())
    assert info["lam"] == pytest.approx(float(table["lambda"][0]))
    teardown(handles)


class _PoisonedSplit:
    """A test split that fails on any use: the lambda search must never read it."""

    def __getattr__(self, name):
        raise AssertionError(f"the lambda search read the test split (.{name})")

    def __len__(self):
        raise AssertionError("the lambda search read the test split (len)")


@pytest.mark.parametrize("true_manifold", [True, False], ids=["fonts-objective", "l1-frechet-objective"])
def test_lambda_search_never_reads_the_test_split(tmp_path, monkeypatch, true_manifold):
    """Held-out images come from the training split, never the test split, for both objectives."""
    import raysweep.data as data_module
    from raysweep.data import Dataset, load_dataset
    from raysweep.manifold import lambda_score as ls

    options = {"max_fonts": 3, "train_size": 600, "test_size": 120, "cache_dir": str(tmp_path / "cache")}
    real = load_dataset("fonts", **options)
    poisoned = Dataset("fonts", real.train, _PoisonedSplit(), real.n_classes, real.data_hash, dict(real.meta))
    monkeypatch.setattr(data_module, "load_dataset", lambda name, **kw: poisoned)
    if not true_manifold:
        monkeypatch.setattr(ls, "has_true_manifold", lambda ds: False)
    spec = parse_lambda_spec({"name": "t", "dataset": {"name": "fonts", "options": options}, "storage": str(tmp_path),
                              "train_size": 40, "vaegan": {"width": 0.125, "epochs": 1},
                              "objective": {"held_out": 12, "classifier_epochs": 1}})
    if not true_manifold:
        ls.ensure_feature_classifier(spec, poisoned, torch.device("cpu"))
    scores = ls.score_lambda(spec, 2, 3.0, torch.device("cpu"))
    assert torch.isfinite(torch.tensor(scores["objective"]))
    fit, held = ls.held_out_split(real.train.y, 2, 12, 40, spec.seed)
    assert len(held) == 12 and len(fit) == 40 and not set(fit.tolist()) & set(held.tolist())
    assert (real.train.y[torch.cat([fit, held])] == 2).all()
