"""The sweep engine on a local Ray with fake GPUs: fractional GPU sharing, retries then a failed
row, and resume after the driver is killed (rows exactly once). One Ray session for the module."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent

import sweep_fixtures  # noqa: E402

pytest.importorskip("ray")
pytestmark = pytest.mark.ray


def _trials(tmp_path: Path, name: str = "tiny") -> pd.DataFrame:
    return pd.read_parquet(tmp_path / "out" / name / "tables" / "trials")


def test_quarter_gpu_trials_share_one_gpu(ray_session, tmp_path):
    """0.25 GPU each: four trials run at once (a barrier proves it) on the same GPU id."""
    from raysweep.tune.sweep_runner import run_sweep

    barrier = {"name": "barrier", "params": {"dir": str(tmp_path / "barrier"), "parties": 4, "timeout_s": 90},
               "resources": {"cpu": 0.5, "gpu": 0.25}}
    path = sweep_fixtures.spec_file(tmp_path, strategies=[barrier], evaluate={}, train={"epochs": 1, "batch_size": 50})
    summary = run_sweep(path)
    assert (summary.ok, summary.failed) == (4, 0)
    t = _trials(tmp_path)
    assert (t["status"] == "ok").all() and set(t["gpu_ids"]) == {"0"}
    assert t["started_at"].max() < t["finished_at"].min()  # every pair overlaps in time


def test_failing_trial_is_retried_then_recorded(ray_session, tmp_path, capsys):
    from raysweep.tune.sweep_runner import run_sweep

    attempts = tmp_path / "attempts"
    # one batch per epoch (n 50, batch 50): flaky dies in epoch 2 and resumes from epoch 2's start
    strategies = [{"name": "flaky", "params": {"dir": str(tmp_path / "flaky"), "fail_at": 3}, "resources": {"cpu": 1, "gpu": 0.1}},
                  {"name": "explode", "params": {"dir": str(attempts)}, "resources": {"cpu": 1, "gpu": 0.1}}]
    path = sweep_fixtures.spec_file(tmp_path, strategies=strategies, grid={"n": [50], "seed": [1], "arch": ["cnn"]}, retries=1,
                      train={"epochs": 3, "batch_size": 50})
    summary = run_sweep(path)
    assert (summary.ok, summary.failed) == (1, 1)
    assert len(os.listdir(attempts)) == 2  # first attempt + one retry
    t = _trials(tmp_path).set_index("strategy")
    assert t.loc["flaky", "status"] == "ok" and t.loc["explode", "status"] == "failed"
    assert t.loc["flaky", "resumed_from_epoch"] == 2  # retried from its last epoch checkpoint
    assert "boom" in t.loc["explode", "error"]
    ex = pd.read_parquet(tmp_path / "out" / "tiny" / "tables" / "examples")
    assert set(ex["strategy"]) == {"flaky"} and len(ex) == 10 * 2  # samples x restarts
    # re-running does nothing: both trials have rows (the failed one keeps its row)
    assert run_sweep(path).skipped == 2
    assert len(_trials(tmp_path)) == 2


def _make_state_unreadable(sweep_dir: Path, with_rows: set[str]) -> None:
    """A driver killed before Tune's first experiment snapshot, or while writing it."""
    for state in (sweep_dir / "tune").glob("experiment_state-*.json"):
        state.write_text('{"trial_data": [')


def _make_checkpoints_stale(sweep_dir: Path, with_rows: set[str]) -> None:
    """What a driver killed between Tune's checkpoint deletion and its next state snapshot leaves
    behind (the race CI once hit): the saved state names checkpoints that are gone. The first
    unfinished trial loses all of its checkpoints; the others' newest moves to a higher index."""
    unfinished = sorted(d for d in (sweep_dir / "tune").iterdir()
                        if d.is_dir() and any(d.glob("checkpoint_*")) and d.name not in with_rows)
    for i, trial in enumerate(unfinished):
        checkpoints = sorted(trial.glob("checkpoint_*"))
        if i == 0:
            for c in checkpoints:
                shutil.rmtree(c)
        else:
            index = int(checkpoints[-1].name.split("_")[1])
            checkpoints[-1].rename(trial / f"checkpoint_{index + 5:06d}")


def _make_both(sweep_dir: Path, with_rows: set[str]) -> None:
    """Both kinds of damage at once: each repair must hold while the other is needed too."""
    _make_state_unreadable(sweep_dir, with_rows)
    _make_checkpoints_stale(sweep_dir, with_rows)


@pytest.mark.parametrize("damage,pack", [(_make_both, "none"), (_make_checkpoints_stale, "seeds")],
                         ids=["stale-and-unreadable", "stale-packed"])
def test_killed_driver_resumes_without_duplicates(ray_session, tmp_path, damage, pack):
    """Kill the driver (a subprocess on the shared cluster) after its first row, leave its Tune
    state damaged the way a kill can; the re-run finishes the rest and every trial has exactly
    one trial row and one set of example rows. Packed: the first row is a pack's first member,
    which the resumed pack must not train or write again."""
    from raysweep.tune.sweep_runner import run_sweep

    path = sweep_fixtures.spec_file(tmp_path, grid={"n": [50, 100], "seed": [1, 2], "arch": ["cnn"]},
                      strategies=[{"name": "normal", "resources": {"cpu": 1, "gpu": 0.1}}],
                      train={"epochs": 3, "batch_size": 25}, concurrency=1, pack=pack)
    tables = tmp_path / "out" / "tiny" / "tables" / "trials"
    driver = subprocess.Popen([sys.executable, "-m", "raysweep.cli", "sweep", path, "--address", ray_session],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not sweep_fixtures.row_files(tables):
        assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    before = len(sweep_fixtures.row_files(tables))
    written = {p.name: p.stat().st_mtime_ns for p in sweep_fixtures.row_files(tables)}
    assert 1 <= before < 4
    damage(tmp_path / "out" / "tiny", {p.stem for p in sweep_fixtures.row_files(tables)})
    summary = run_sweep(path, resume=True)
    assert summary.skipped == before and summary.ok == 4 - before
    t = _trials(tmp_path)
    assert len(t) == 4 and t["trial_id"].is_unique and (t["status"] == "ok").all()
    ex = pd.read_parquet(tmp_path / "out" / "tiny" / "tables" / "examples")
    assert ex.groupby("trial_id").size().eq(10 * 2).all() and ex["trial_id"].nunique() == 4
    assert not list(tables.glob(".tmp-*"))  # no temporary files left behind
    assert all((tables / name).stat().st_mtime_ns == t for name, t in written.items())  # finished rows untouched


def _tables(tmp_path: Path, out: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    root = tmp_path / out / "tiny" / "tables"
    return pd.read_parquet(root / "trials").set_index("trial_id"), pd.read_parquet(root / "examples")


def test_packed_sweep_writes_the_tables_of_an_unpacked_one(ray_session, tmp_path):
    """`pack: seeds` (the seeds of one cell share one Tune trial): 2 packs of 2 seeds run as 2 Tune
    trials; every model keeps its id and its rows equal those of the same sweep unpacked (same code
    per model on CPU)."""
    from raysweep.tune.sweep_runner import run_sweep

    common = dict(strategies=[{"name": "normal", "resources": {"cpu": 1, "gpu": 0.1}}], train={"epochs": 2, "batch_size": 25})
    runs = {}
    for pack in ("none", "seeds"):
        spec = sweep_fixtures.tiny_spec(str(tmp_path / pack), pack=pack, **common)
        path = tmp_path / f"{pack}.yaml"
        path.write_text(yaml.safe_dump(spec))
        assert run_sweep(str(path)).ok == 4
        runs[pack] = _tables(tmp_path, pack)
        tune_dirs = [d for d in (tmp_path / pack / "tiny" / "tune").iterdir() if d.is_dir()]
        assert len(tune_dirs) == (4 if pack == "none" else 2)  # one Tune trial per model, or per pack
    (t0, e0), (t1, e1) = runs["none"], runs["seeds"]
    assert sorted(t0.index) == sorted(t1.index)  # packing is not part of a model's identity
    cols = ["test_error", "train_error", "linf.success_rate_any", "knn.linf.mean_dist"]
    pd.testing.assert_frame_equal(t0.loc[t1.index, cols], t1[cols], rtol=1e-6)
    key = ["trial_id", "sample", "restart"]
    pd.testing.assert_frame_equal(e0.sort_values(key)[key + ["success", "l2", "dist_knn"]].reset_index(drop=True),
                                  e1.sort_values(key)[key + ["success", "l2", "dist_knn"]].reset_index(drop=True))
