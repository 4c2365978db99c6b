"""cluster.yaml passes Ray's own launcher validation (no cloud calls), and a two-node local cluster
(`ray start --head` and `ray start --address` as separate processes) runs a tiny sweep from a
driver joined with --address and one submitted with `ray job submit --working-dir`. Both run on
the token cluster cluster.yaml starts (tests/test_cluster_auth.py), so one cluster start covers
them; this file holds the cluster helpers and the cluster.yaml checks."""
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
import pytest
import yaml

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(TESTS))

import sweep_fixtures  # noqa: E402

# `ray start` clusters and clients: the one xdist group that runs Ray (conftest.py)
pytestmark = pytest.mark.ray


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
    for name, t in types.items():
        node = t["node_config"]
        assert node["SecurityGroupIds"] == ["YOUR-SG-ID"], name  # the user's group: SSH from YOUR-CIDR only
        assert node["MetadataOptions"]["HttpTokens"] == "required", name  # IMDSv2
    assert "security_group" not in config["provider"]  # its IpPermissions would only add to 0.0.0.0/0
    assert "--cidr YOUR-CIDR" in text


def _pins(commands: list[str]) -> dict[str, str]:
    """{package: version} of every `name==version` in the setup commands."""
    from packaging.requirements import Requirement

    words = " ".join(commands).replace('"', " ").split()
    return {Requirement(w).name.lower(): str(Requirement(w).specifier)[2:] for w in words if "==" in w}


def test_cluster_setup_pins_every_package_within_pyproject():
    """Nodes install exactly the tested versions: each dependency of pyproject.toml pinned with ==
    to a version its range allows, pip and setuptools too, raysweep itself with --no-deps (so pip
    resolves nothing else), and `make fonts` for FONTS-1000."""
    import tomllib

    from packaging.requirements import Requirement

    setup = yaml.safe_load((ROOT / "cluster.yaml").read_text())["setup_commands"]
    pins = _pins(setup)
    deps = [Requirement(d) for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    for dep in deps:
        assert dep.name.lower() in pins, f"{dep.name} is not pinned in cluster.yaml's setup_commands"
        assert dep.specifier.contains(pins[dep.name.lower()]), (dep, pins[dep.name.lower()])
    assert {"pip", "setuptools"} <= set(pins)
    installs = [c for c in setup if "pip install" in c]
    for command in installs:
        for part in (p for p in command.split("&&") if "pip install" in p):
            args = [a for a in part.split("pip install", 1)[1].split() if not a.startswith("-")]
            assert all("==" in a for a in args if a != "."), f"unpinned: {part.strip()}"
    assert any("--no-deps --no-build-isolation -e ." in c for c in installs)
    assert any("make -o .venv/.installed fonts" in c for c in setup)


def test_cluster_yaml_opens_no_ssh_to_the_world(tmp_path, monkeypatch):
    """Ray's AWS bootstrap on cluster.yaml, against moto's in-process AWS (no network): with the
    user's group in SecurityGroupIds no rule opens SSH to 0.0.0.0/0. The control shows why the
    provider's security_group keys are not enough: Ray adds its 0.0.0.0/0 rule beside them."""
    import copy

    import boto3
    from moto import mock_aws
    from ray.autoscaler._private.aws.config import bootstrap_aws  # private API: only here
    from ray.autoscaler._private.util import prepare_config

    for k, v in {"HOME": str(tmp_path), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                 "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(k, v)  # HOME: Ray writes the cluster's SSH key under ~/.ssh
    raw = yaml.safe_load((ROOT / "cluster.yaml").read_text())

    def ssh_cidrs(ec2) -> set[str]:
        return {r["CidrIp"] for g in ec2.describe_security_groups()["SecurityGroups"] for p in g["IpPermissions"]
                if p.get("FromPort") in (22, None) for r in p.get("IpRanges", [])}

    with mock_aws():
        ec2 = boto3.client("ec2", region_name=raw["provider"]["region"])
        boto3.client("iam").create_instance_profile(InstanceProfileName="raysweep-s3-access")
        sg = ec2.create_security_group(GroupName="raysweep", Description="SSH from one CIDR")["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=sg, IpProtocol="tcp", FromPort=22, ToPort=22,
                                             CidrIp="203.0.113.7/32")
        config = prepare_config(yaml.safe_load((ROOT / "cluster.yaml").read_text().replace("YOUR-SG-ID", sg)))
        done = bootstrap_aws(config)
        assert all(t["node_config"]["SecurityGroupIds"] == [sg] for t in done["available_node_types"].values())
        assert ssh_cidrs(ec2) == {"203.0.113.7/32"}
        control = prepare_config(copy.deepcopy(raw))  # Ray's own group, told to allow one CIDR
        for t in control["available_node_types"].values():
            del t["node_config"]["SecurityGroupIds"]
        control["provider"]["security_group"] = {"GroupName": "control", "IpPermissions": [
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "203.0.113.7/32"}]}]}
        bootstrap_aws(control)
        assert "0.0.0.0/0" in ssh_cidrs(ec2)


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
def two_node_cluster(tmp_path: Path, work: Path, dashboard: bool, auth: str = "disabled",
                     home: Optional[Path] = None):
    """A CPU-only head and a worker with one (fake) GPU, as separate `ray start` processes.

    auth="token" with `home` holding .ray/auth_token: every node and client here reads that token
    (tests/test_cluster_auth.py); the user's own ~/.ray is never touched."""
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
