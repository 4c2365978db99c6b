"""A two-node local cluster (`ray start --head` and `ray start --address` as separate processes) and
what runs on it: a tiny sweep from a driver joined with --address and one submitted with `ray job
submit --working-dir`. tests/integration/test_cluster_auth.py runs both on the token cluster
cluster.yaml starts, so one cluster start covers them; cluster.yaml's own checks (no Ray started)
are tests/contracts/test_cluster_yaml.py."""
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
from typing import Optional

import pandas as pd
import yaml

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
BIN = Path(sys.executable).parent

import sweep_fixtures  # noqa: E402


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


def _wait_for_nodes(address: str, n: int, env: dict, timeout: float = 150) -> None:
    """One client polls the node count until n are alive (a client per poll cost an interpreter
    start and a Ray import each, seconds apiece on 2 busy cores); a new one only while the GCS is
    not up yet. 150 s, not 60: in a fresh-clone `make test` the other test worker runs benchmark
    smokes meanwhile, and a head with its dashboard plus a worker node once took over 60 s to
    register both."""
    deadline = time.time() + timeout
    code = (f"import time, ray; ray.init(address={address!r}, log_to_driver=False)\n"
            f"end = time.time() + {timeout}\n"
            f"while sum(1 for x in ray.nodes() if x['Alive']) < {n} and time.time() < end: time.sleep(0.5)\n"
            f"print(sum(1 for x in ray.nodes() if x['Alive']))")
    seen = "no client connected"
    while time.time() < deadline:
        left = max(deadline - time.time(), 1.0)
        try:
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                 timeout=left + 30)
        except subprocess.TimeoutExpired:
            break
        lines = out.stdout.strip().splitlines()
        if out.returncode == 0 and lines and lines[-1] == str(n):
            return
        seen = f"{lines[-1]} alive" if out.returncode == 0 and lines else out.stderr.strip()[-500:]
        time.sleep(1)
    raise AssertionError(f"cluster did not reach {n} nodes in {timeout:.0f} s (last: {seen})")


def _node_ip() -> str:
    from ray.util import get_node_ip_address

    return get_node_ip_address()


@contextlib.contextmanager
def two_node_cluster(tmp_path: Path, work: Path, dashboard: bool, auth: str = "disabled",
                     home: Optional[Path] = None):
    """A CPU-only head and a worker with one (fake) GPU, as separate `ray start` processes.

    auth="token" with `home` holding .ray/auth_token: every node and client here reads that token
    (tests/integration/test_cluster_auth.py); the user's own ~/.ray is never touched."""
    env = {**os.environ, "RAY_AUTH_MODE": auth, "RAY_DEDUP_LOGS": "0",
           "PYTHONPATH": os.pathsep.join([str(work), str(ROOT)]),
           # a job's entrypoint `python` must be this venv's, as on a cluster set up by cluster.yaml
           "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}
    if home is not None:
        env["HOME"] = str(home)
    env.pop("RAY_AUTH_TOKEN", None)
    env.pop("RAY_AUTH_TOKEN_PATH", None)
    env.pop("RAY_ADDRESS", None)
    port, dash = _free_port(), _free_port()
    address = f"{_node_ip()}:{port}"
    # Short temp dir: Ray's unix socket paths must stay under ~107 characters.
    temp = tempfile.mkdtemp(prefix="rs-", dir="/tmp")
    # Each node's dashboard agent serves HTTP on 52365 unless told otherwise; another Ray on this
    # machine (a user's, a concurrent test's) holding it leaves the head without an agent, and
    # the job server then answers every submit with "No available agent".
    head = ["--head", f"--port={port}", "--num-cpus=1", "--num-gpus=0", "--object-store-memory=80000000",
            f"--temp-dir={temp}", f"--include-dashboard={str(dashboard).lower()}",
            f"--dashboard-agent-listen-port={_free_port()}"]
    if dashboard:
        head += ["--dashboard-host=127.0.0.1", f"--dashboard-port={dash}"]
    procs = [_start(head, env)]
    try:
        time.sleep(2)
        procs.append(_start([f"--address={address}", "--num-cpus=2", "--num-gpus=1",
                             "--object-store-memory=80000000", f"--dashboard-agent-listen-port={_free_port()}"], env))
        _wait_for_nodes(address, 2, env)
        yield address, f"http://127.0.0.1:{dash}", env
    finally:
        _stop(procs)
        shutil.rmtree(temp, ignore_errors=True)


def submit_sweep(dashboard: str, work: Path, env: dict, auth: str, wait_s: float = 90) -> subprocess.CompletedProcess:
    """`ray job submit --working-dir` of the tiny sweep. The job server answers 500 "No available
    agent ... try again later" until the head's dashboard agent has registered (10 s wait per
    request; longer on a loaded 2-core machine), so that one answer is retried, nothing else."""
    deadline = time.time() + wait_s
    while True:
        submit = subprocess.run(
            [str(BIN / "ray"), "job", "submit", "--address", dashboard, "--working-dir", str(work),
             "--runtime-env-json", json.dumps({"env_vars": {"RAY_AUTH_MODE": auth}}),
             "--", "python", "-m", "raysweep.cli", "sweep", "spec.yaml"],
            env=env, capture_output=True, text=True, timeout=240)
        if "No available agent" not in submit.stderr or time.time() > deadline:
            return submit
        time.sleep(2)


def _job_dir(tmp_path: Path) -> Path:
    """What a job needs: the spec and the plugin (the job's working directory). A second spec,
    `driver.yaml`, writes to out-driver/: the same sweep for a driver joined with --address."""
    work = tmp_path / "job"
    work.mkdir()
    shutil.copy(TESTS / "sweep_fixtures.py", work)
    for name, out in (("spec.yaml", "out"), ("driver.yaml", "out-driver")):
        spec = sweep_fixtures.tiny_spec(str(tmp_path / out), grid={"n": [50], "seed": [1, 2, 3], "arch": ["cnn"]},
                                       strategies=[{"name": "normal", "resources": {"cpu": 1, "gpu": 0.25}}])
        (work / name).write_text(yaml.safe_dump(spec))
    return work


def run_driver(work: Path, address: str, env: dict) -> None:
    """A driver joins the cluster with --address (driver.yaml); its trials land on the GPU worker."""
    run = subprocess.run([sys.executable, "-m", "raysweep.cli", "sweep", "driver.yaml", "--address", address],
                         cwd=work, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "3 ok, 0 failed" in run.stderr


def _check_rows(tmp_path: Path, out: str = "out") -> None:
    trials = pd.read_parquet(tmp_path / out / "tiny" / "tables" / "trials")
    assert len(trials) == 3 and (trials["status"] == "ok").all()
    assert set(trials["gpu_ids"]) == {"0"}  # ran on the worker node, the only one with a GPU
