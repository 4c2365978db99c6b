"""cluster.yaml passes Ray's own launcher validation (no cloud calls), and a two-node local cluster
(`ray start --head` and `ray start --address` as separate processes) runs a tiny sweep submitted
with `ray job submit --working-dir`."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
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


@pytest.mark.ray
@pytest.mark.slow
def test_two_node_cluster_runs_submitted_sweep(tmp_path):
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_DEDUP_LOGS": "0", "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    port, dash = _free_port(), _free_port()
    address = f"127.0.0.1:{port}"
    procs = [_start(["--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=0", "--include-dashboard=true",
                     "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", "--object-store-memory=80000000",
                     f"--temp-dir={tmp_path / 'ray'}"], env)]
    try:
        time.sleep(3)
        procs.append(_start([f"--address={address}", "--node-ip-address=127.0.0.1", "--num-cpus=2", "--num-gpus=1",
                             "--object-store-memory=80000000"], env))
        _wait_for_nodes(address, 2, env)
        # The job's working directory holds only what the job needs: the spec and the plugin.
        work = tmp_path / "job"
        work.mkdir()
        shutil.copy(TESTS / "sweep_fixtures.py", work)
        spec = sweep_fixtures.tiny_spec(str(tmp_path / "out"), grid={"n": [50], "seed": [1, 2, 3], "arch": ["cnn"]},
                                       strategies=[{"name": "normal", "resources": {"cpu": 1, "gpu": 0.25}}])
        (work / "spec.yaml").write_text(yaml.safe_dump(spec))
        submit = subprocess.run(
            [str(BIN / "ray"), "job", "submit", "--address", f"http://127.0.0.1:{dash}", "--working-dir", str(work),
             "--runtime-env-json", json.dumps({"env_vars": {"RAY_AUTH_MODE": "disabled"}}),
             "--", sys.executable, "-m", "raysweep.cli", "sweep", "spec.yaml"],
            env=env, capture_output=True, text=True, timeout=240)
        assert submit.returncode == 0, submit.stdout[-3000:] + submit.stderr[-3000:]
        trials = pd.read_parquet(tmp_path / "out" / "tiny" / "tables" / "trials")
        assert len(trials) == 3 and (trials["status"] == "ok").all()
        assert set(trials["gpu_ids"]) == {"0"}  # ran on the worker node, the only one with a GPU
    finally:
        _stop(procs)
