"""cluster.yaml, as shipped: Ray's own launcher validation accepts it (no cloud calls), its setup
pins every dependency within pyproject.toml's ranges, and Ray's AWS bootstrap (against moto, no
network) opens SSH to the user's CIDR only. None of this starts Ray, so these tests run outside
the Ray group; the cluster itself runs in tests/integration/test_cluster_auth.py."""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


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
