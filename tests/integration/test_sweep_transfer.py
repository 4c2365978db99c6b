"""Transfer attacks in a sweep (supplement E): the source model is trained once
per storage and data set, before the trials, and served to every trial; success counts only
samples both models classify correctly; the supplement's attack figure draws it."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

TESTS = Path(__file__).resolve().parents[1]

import sweep_fixtures

pytest.importorskip("ray")
pytestmark = pytest.mark.ray

ATTACKS = [{"name": "linf", "samples": 20, "restarts": 1, "params": {"iterations": 5}},
           {"name": "transfer", "samples": 20, "restarts": 2, "params": {"iterations": 5}}]


def _spec(tmp_path: Path, name: str) -> str:
    spec = sweep_fixtures.tiny_spec(str(tmp_path / "out"), name=name, grid={"n": [50, 100], "seed": [1], "arch": ["cnn"]},
                                    evaluate={"attacks": ATTACKS}, train={"epochs": 2, "batch_size": 50})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def test_transfer_sweep_trains_the_source_once_and_counts_both_correct(ray_session, tmp_path):
    from raysweep.resolve import catalog
    from raysweep.config.schema import DatasetSpec
    from raysweep.trial.source_model import SOURCE_SEED, load_source, source_job, train_count
    from raysweep.tune.sweep_runner import run_sweep

    summary = run_sweep(_spec(tmp_path, "tiny-transfer"))
    assert (summary.ok, summary.failed) == (2, 0)
    storage = str(tmp_path / "out")
    catalog.load(["sweep_fixtures"])
    job = source_job(DatasetSpec.model_validate({"name": "tiny"}))
    assert train_count(storage, job) == 1 and job.seed == SOURCE_SEED and job.epochs == 20
    assert (tmp_path / "out" / "sources").is_dir()  # stored beside the manifolds

    trials = pd.read_parquet(tmp_path / "out" / "tiny-transfer" / "tables" / "trials")
    assert (trials["status"] == "ok").all() and trials["transfer.success_rate_attempt"].notna().all()
    ex = pd.read_parquet(tmp_path / "out" / "tiny-transfer" / "tables" / "examples")
    tr = ex[ex["attack"] == "transfer"]
    assert len(tr) == 2 * 20 * 2  # trials x samples x restarts
    # "correct" = correct on the target AND the source; a success needs a correct sample
    assert (tr.loc[tr["correct"].astype(bool), "clean_pred"] == tr.loc[tr["correct"].astype(bool), "label"]).all()
    assert not (tr["success"].astype(bool) & ~tr["correct"].astype(bool)).any()
    source = load_source(storage, job)
    import torch

    from raysweep.data import load_dataset

    test = load_dataset("tiny").test
    rows = torch.as_tensor(sorted(tr["sample"].unique()))
    source_ok = source(test.batch(rows).x).argmax(1) == test.y[rows]
    wrong_on_source = set(rows[~source_ok].tolist())
    assert not tr[tr["sample"].isin(wrong_on_source)]["correct"].astype(bool).any()

    # A second sweep over the same storage and data set reuses the stored source model.
    assert run_sweep(_spec(tmp_path, "tiny-transfer-2")).ok == 2
    assert train_count(storage, job) == 1

    from raysweep.analysis import fig_attacks
    from raysweep.analysis.load import load_tables

    assert fig_attacks.variant_attacks(load_tables(tmp_path / "out" / "tiny-transfer").trials) == ["transfer"]
    outcome = fig_attacks.draw(load_tables(tmp_path / "out" / "tiny-transfer"), tmp_path / "figs")
    assert outcome.path is not None and Path(outcome.path).is_file()
