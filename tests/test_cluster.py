"""cluster.yaml passes Ray's own launcher validation (no cloud calls), and a two-node local cluster
(`ray start --head` and `ray start --address` as separate processes) runs a tiny sweep submitted
with `ray job submit --working-dir`."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(TESTS))

import sweep_fixtures  # noqa: E402


def test_cluster_yaml_passes_ray_validation():
    from ray.autoscaler._private.util import prepare_config, validate_config  # private API: only here

    raw = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    config = prepare_config(raw)
    validate_config(config)  # raises on unknown keys, bad types, a head type not in the node types
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0  # a CPU head
    gpu_types = [t for name, t in types.items() if name != config["head_node_type"]]
    assert any(t["node_config"].get("InstanceMarketOptions", {}).get("MarketType") == "spot" for t in gpu_types)
    assert any("InstanceMarketOptions" not in t["node_config"] for t in gpu_types)  # on-demand too
    starts = " ".join(config["head_start_ray_commands"] + config["worker_start_ray_commands"])
    assert starts.count("RAY_AUTH_MODE=token") == 2 and "--dashboard-host=127.0.0.1" in starts
    text = (ROOT / "cluster.yaml").read_text()
    assert "aws_secret_access_key" not in text.lower() and "YOUR-BUCKET" in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], env: dict) -> subprocess.Popen:
    # --block keeps `ray start` in the foreground; its own session lets us stop exactly these
    # processes (never `ray stop`, which would stop every Ray on the machine).
    return subprocess.Popen([str(BIN / "ray"), "start", "--block", "--disable-usage-stats", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in reversed(procs):
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def _wait_for_nodes(address: str, n: int, env: dict, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    code = (f"import ray; ray.init(address={address!r}, log_to_driver=False); "
            f"print(sum(1 for x in ray.nodes() if x['Alive']))")
    while time.time() < deadline:
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1] == str(n):
            return
        time.sleep(1)
    raise AssertionError(f"cluster did not reach {n} nodes")


def _node_ip() -> str:
    from ray.util import get_node_ip_address

    return get_node_ip_address()


@contextlib.contextmanager
def two_node_cluster(tmp_path: Path, work: Path, dashboard: bool):
    """A CPU-only head and a worker with one (fake) GPU, as separate `ray start` processes."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_DEDUP_LOGS": "0",
           "PYTHONPATH": os.pathsep.join([str(work), str(ROOT)]),
           # a job's entrypoint `python` must be this venv's, as on a cluster set up by cluster.yaml
           "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}
    env.pop("RAY_ADDRESS", None)
    port, dash = _free_port(), _free_port()
    address = f"{_node_ip()}:{port}"
    # Short temp dir: Ray's unix socket paths must stay under ~107 characters.
    temp = tempfile.mkdtemp(prefix="rs-", dir="/tmp")
    head = ["--head", f"--port={port}", "--num-cpus=1", "--num-gpus=0", "--object-store-memory=80000000",
            f"--temp-dir={temp}", f"--include-dashboard={str(dashboard).lower()}"]
    if dashboard:
        head += ["--dashboard-host=127.0.0.1", f"--dashboard-port={dash}"]
    procs = [_start(head, env)]
    try:
        time.sleep(2)
        procs.append(_start([f"--address={address}", "--num-cpus=2", "--num-gpus=1",
                             "--object-store-memory=80000000"], env))
        _wait_for_nodes(address, 2, env)
        yield address, f"http://127.0.0.1:{dash}", env
    finally:
        _stop(procs)
        shutil.rmtree(temp, ignore_errors=True)


def _job_dir(tmp_path: Path) -> Path:
    """What a job needs: the spec and the plugin (the job's working directory)."""
    work = tmp_path / "job"
    work.mkdir()
    shutil.copy(TESTS / "sweep_fixtures.py", work)
    spec = sweep_fixtures.tiny_spec(str(tmp_path / "out"), grid={"n": [50], "seed": [1, 2, 3], "arch": ["cnn"]},
                                   strategies=[{"name": "normal", "resources": {"cpu": 1, "gpu": 0.25}}])
    (work / "spec.yaml").write_text(yaml.safe_dump(spec))
    return work


def _check_rows(tmp_path: Path) -> None:
    trials = pd.read_parquet(tmp_path / "out" / "tiny" / "tables" / "trials")
    assert len(trials) == 3 and (trials["status"] == "ok").all()
    assert set(trials["gpu_ids"]) == {"0"}  # ran on the worker node, the only one with a GPU


@pytest.mark.ray
@pytest.mark.slow
def test_two_node_cluster_runs_sweep(tmp_path):
    """A driver joins a two-node cluster with --address and its trials land on the GPU worker."""
    work = _job_dir(tmp_path)
    with two_node_cluster(tmp_path, work, dashboard=False) as (address, _, env):
        run = subprocess.run([sys.executable, "-m", "raysweep.cli", "sweep", "spec.yaml", "--address", address],
                             cwd=work, env=env, capture_output=True, text=True, timeout=240)
        assert run.returncode == 0, run.stderr[-3000:]
        assert "3 ok, 0 failed" in run.stderr
    _check_rows(tmp_path)


@pytest.mark.ray
@pytest.mark.slow
def test_job_submit_runs_sweep(tmp_path):
    """`ray job submit --working-dir` (the dashboard's job server) runs the sweep on the cluster."""
    from ray._private.utils import get_dashboard_dependency_error

    if get_dashboard_dependency_error():
        pytest.skip("ray[default] (dashboard and job server) is not installed in this environment")
    work = _job_dir(tmp_path)
    with two_node_cluster(tmp_path, work, dashboard=True) as (_, dashboard, env):
        submit = subprocess.run(
            [str(BIN / "ray"), "job", "submit", "--address", dashboard, "--working-dir", str(work),
             "--runtime-env-json", json.dumps({"env_vars": {"RAY_AUTH_MODE": "disabled"}}),
             "--", "python", "-m", "raysweep.cli", "sweep", "spec.yaml"],
            env=env, capture_output=True, text=True, timeout=240)
        assert submit.returncode == 0, submit.stdout[-3000:] + submit.stderr[-3000:]
    _check_rows(tmp_path)
