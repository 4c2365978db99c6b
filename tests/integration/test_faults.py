"""Faults a long sweep meets, on a local Ray: Ctrl-C of the driver, two drivers on
one sweep, deterministic failures (not retried) and --retry-failed. The SIGKILLed driver (and
its lease taken over) is tests/integration/test_sweep_ray.py's resume test; a killed lease holder and a full
disk are tests/results/test_integrity.py's."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent

import sweep_fixtures  # noqa: E402

pytest.importorskip("ray")
pytestmark = pytest.mark.ray


def _driver(path: str, address: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "raysweep.cli", "sweep", path, "--address", address],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(predicate, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.time() + timeout_s
    while not predicate():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "timed out"
        time.sleep(0.2)


SLOW = dict(grid={"n": [50, 100], "seed": [1, 2], "arch": ["cnn"]}, concurrency=1,
            strategies=[{"name": "normal", "resources": {"cpu": 1, "gpu": 0.1}}], train={"epochs": 3, "batch_size": 25})


def test_ctrl_c_keeps_finished_rows_and_exits_130(ray_session, tmp_path):
    path = sweep_fixtures.spec_file(tmp_path, **SLOW)
    tables = tmp_path / "out" / "tiny" / "tables" / "trials"
    driver = _driver(path, ray_session)
    _wait_for(lambda: bool(sweep_fixtures.row_files(tables)), driver)
    driver.send_signal(signal.SIGINT)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, err.decode()[-2000:]
    assert "trials unfinished; rerun with --resume" in err.decode()
    kept = len(sweep_fixtures.row_files(tables))
    assert 1 <= kept < 4
    from raysweep.tune.sweep_runner import run_sweep

    summary = run_sweep(path, resume=True)
    assert summary.skipped == kept and summary.ok == 4 - kept and summary.unfinished == 0
    t = pd.read_parquet(tables)
    assert len(t) == 4 and t["trial_id"].is_unique


def test_a_second_driver_on_the_same_sweep_stops_with_one_line(ray_session, tmp_path, capsys):
    from raysweep.cli import main

    path = sweep_fixtures.spec_file(tmp_path, **SLOW)
    lease_file = tmp_path / "out" / "tiny" / "driver.lease"
    first = _driver(path, ray_session)
    try:
        _wait_for(lambda: lease_file.is_file() and f'"pid": {first.pid}' in lease_file.read_text(), first)
        assert main(["sweep", path, "--address", ray_session]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"pid {first.pid}" in err[0] and "already being run" in err[0]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert not (tmp_path / "out" / "tiny" / "tables" / "trials").is_dir() or \
        len(sweep_fixtures.row_files(tmp_path / "out" / "tiny" / "tables" / "trials")) <= 4


def test_deterministic_failures_are_not_retried_and_retry_failed_reruns_them(ray_session, tmp_path):
    from raysweep.tune.sweep_runner import run_sweep

    attempts = tmp_path / "attempts"
    path = sweep_fixtures.spec_file(tmp_path, strategies=[{"name": "refuse", "params": {"dir": str(attempts)},
                                             "resources": {"cpu": 1, "gpu": 0.1}}],
                      grid={"n": [50], "seed": [1], "arch": ["cnn"]}, retries=2, evaluate={})
    summary = run_sweep(path)
    assert (summary.ok, summary.failed) == (0, 1)
    assert len(os.listdir(attempts)) == 1  # a UserError is not retried `retries` times
    t = pd.read_parquet(tmp_path / "out" / "tiny" / "tables" / "trials")
    assert t["status"].tolist() == ["failed"] and "refuse" in t["error"][0]
    assert run_sweep(path).skipped == 1 and len(os.listdir(attempts)) == 1  # failed rows count as done
    assert run_sweep(path, retry_failed=True).failed == 1 and len(os.listdir(attempts)) == 2
    assert len(pd.read_parquet(tmp_path / "out" / "tiny" / "tables" / "trials")) == 1  # replaced, not added


def test_an_actor_whose_setup_fails_is_one_line(ray_session):
    """A manifold actor that cannot start (here: the true manifold of a data set without one; the
    plugin that registers the data set loads in the actor's process too) stops the sweep with the
    cause in one line, not a hang or a traceback."""
    from raysweep.config.schema import DatasetSpec
    from raysweep._core.errors import UserError
    from raysweep.tune.actors import ensure_manifold_actors

    with pytest.raises(UserError, match="a manifold actor could not start: .*'tiny' has no true manifold") as e:
        ensure_manifold_actors(DatasetSpec(name="tiny"), ["true"], "/tmp/raysweep-unused", plugins=("sweep_fixtures",))
    assert "\n" not in str(e.value)


def test_a_worker_killed_mid_trial_is_retried_from_its_checkpoint(ray_session, tmp_path):
    """SIGKILL of the trial's worker process in epoch 3 of 3: Tune retries the trial, which
    resumes from its epoch-2 checkpoint and writes its row exactly once."""
    from raysweep.tune.sweep_runner import run_sweep

    path = sweep_fixtures.spec_file(tmp_path, strategies=[{"name": "killed", "params": {"dir": str(tmp_path / "k"), "kill_at": 3},
                                             "resources": {"cpu": 1, "gpu": 0.1}}],
                      grid={"n": [50], "seed": [1], "arch": ["cnn"]}, retries=1, train={"epochs": 3, "batch_size": 50})
    summary = run_sweep(path)
    assert (summary.ok, summary.failed) == (1, 0) and (tmp_path / "k" / "killed-once").exists()
    t = pd.read_parquet(tmp_path / "out" / "tiny" / "tables" / "trials")
    assert len(t) == 1 and t["status"][0] == "ok" and t["resumed_from_epoch"][0] == 2
