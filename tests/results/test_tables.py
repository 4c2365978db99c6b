"""Result tables without Ray: one real tiny trial's rows go through the schema and the atomic
store, read back with pandas and pyarrow.dataset with the documented columns; writes are
idempotent; `raysweep tables` summarises them."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.dataset as pads
import pytest


import sweep_fixtures
from raysweep.cli import main
from raysweep.config import parse_spec
from raysweep.resolve.trials import expand
from raysweep.results.rows import failed_table, ok_tables
from raysweep.results.schema import EXAMPLE_SCHEMA, SCHEMA_VERSION, trial_schema
from raysweep.results.store import TableStore

pytest.importorskip("raysweep.attacks")

DOCUMENTED_TRIAL = ["sweep", "trial_id", "status", "error", "dataset", "n", "seed", "strategy", "arch",
                    "test_error", "linf.success_rate_attempt", "linf.success_rate_any", "linf.mean_l2",
                    "linf.mean_linf", "knn.linf.median_ratio", "train_time_s", "eval_time_s", "device",
                    "raysweep_version", "git_commit", "schema_version", "strategy.dir"]
DOCUMENTED_EXAMPLE = ["sweep", "trial_id", "n", "seed", "strategy", "arch", "attack", "sample", "restart",
                      "label", "clean_pred", "adv_pred", "correct", "valid", "success", "first_success_iter",
                      "linf", "l2", "l1", "latent_norm", "loss", "delta_l2", "dist_true", "dist_knn"]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Run the first trial of the tiny spec for real and write it, plus a failed trial."""
    from raysweep.trial.run import run_trial

    tmp = tmp_path_factory.mktemp("tables")
    raw = sweep_fixtures.tiny_spec(str(tmp))
    raw["strategies"].append({"name": "explode", "params": {"dir": str(tmp / "x")}})
    spec = parse_spec(raw)
    trials = expand(spec)
    schema = trial_schema(spec)
    store = TableStore(spec.storage, spec.name)
    ok = trials[0]
    out = run_trial(ok)
    store.write(ok.trial_id, *ok_tables(ok, out.row, out.examples, schema, started_at=1.0, finished_at=2.0))
    bad = next(t for t in trials if t.strategy.name == "explode")
    store.write(bad.trial_id, failed_table(bad, "RuntimeError: boom", schema))
    return store, ok, bad, out


def test_tables_read_back_with_documented_columns(written):
    store, ok, bad, out = written
    trials = pd.read_parquet(store.dir("trials").path)
    assert set(DOCUMENTED_TRIAL) <= set(trials.columns)
    assert list(trials.columns) == list(pads.dataset(store.dir("trials").path).schema.names)
    by_id = trials.set_index("trial_id")
    assert by_id.loc[ok.trial_id, "status"] == "ok" and by_id.loc[bad.trial_id, "status"] == "failed"
    assert by_id.loc[ok.trial_id, "test_error"] == pytest.approx(out.row["test_error"])
    assert by_id.loc[bad.trial_id, "error"] == "RuntimeError: boom"
    assert pd.isna(by_id.loc[bad.trial_id, "test_error"])
    assert by_id.loc[bad.trial_id, "strategy.dir"].endswith("x")
    assert (trials["schema_version"] == SCHEMA_VERSION).all()

    examples = pd.read_parquet(store.dir("examples").path)
    assert list(examples.columns) == EXAMPLE_SCHEMA.names and set(DOCUMENTED_EXAMPLE) <= set(examples.columns)
    assert len(examples) == 10 * 2 and set(examples["trial_id"]) == {ok.trial_id}
    measured = examples["dist_knn"].notna()
    assert measured.sum() == by_id.loc[ok.trial_id, "knn.linf.n"]
    assert (examples.loc[measured, "success"] & examples.loc[measured, "correct"]).all()
    assert examples["dist_true"].isna().all()  # not measured in this sweep
    assert (examples["delta_l2"] == examples["l2"]).all()


def test_rewrite_replaces_instead_of_duplicating(written):
    store, ok, bad, _ = written
    schema = pads.dataset(store.dir("trials").path).schema
    store.write(bad.trial_id, failed_table(bad, "RuntimeError: again", schema))
    trials = pd.read_parquet(store.dir("trials").path)
    assert len(trials) == 2 and trials["trial_id"].is_unique
    assert store.done_ids() == {ok.trial_id, bad.trial_id}
    leftovers = [p for p in Path(store.dir("trials").path).iterdir() if p.name.startswith(".")]
    assert not leftovers


def test_tables_command_prints_summary(written, capsys):
    store, ok, bad, _ = written
    assert main(["tables", store.root.parent.uri]) == 0
    out = capsys.readouterr().out
    assert "2 trials (1 failed, 1 ok)" in out and "20 example rows" in out
    assert "linf.success_rate_attempt" in out and f"failed {bad.trial_id}" in out


def test_tables_command_on_missing_dir(tmp_path, capsys):
    assert main(["tables", str(tmp_path / "nothing")]) == 2
    assert "no tables/ directory" in capsys.readouterr().err
