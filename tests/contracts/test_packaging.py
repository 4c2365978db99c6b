"""Packaging promises: the installed Ray and torch lie inside the declared ranges,
Ray's range is bounded to what the tests ran on while torch has no upper cap, the version is
one number everywhere, and the licence ships."""
from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

import raysweep

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
REQS = {Requirement(r).name: Requirement(r) for r in PROJECT["dependencies"]}


def test_installed_ray_and_torch_are_in_the_declared_ranges():
    for name in ("ray", "torch", "torchvision"):
        assert REQS[name].specifier.contains(importlib.metadata.version(name), prereleases=True), name


def test_ray_is_a_range_and_torch_is_not_capped():
    ray = REQS["ray"].specifier
    assert not any(s.operator == "==" for s in ray) and any(s.operator == "<" for s in ray)
    assert not any(s.operator in ("<", "<=", "==", "~=") for s in REQS["torch"].specifier)
    assert REQS["torch"].specifier.contains("99.0")  # a future release is allowed


def test_one_version_and_a_licence():
    assert PROJECT["version"] == raysweep.__version__ == importlib.metadata.version("raysweep")
    out = subprocess.run([sys.executable, "-m", "raysweep.cli", "--version"], capture_output=True, text=True)
    assert out.stdout.strip() == f"raysweep {raysweep.__version__}"
    assert PROJECT["license"] == "MIT" and "MIT License" in (ROOT / "LICENSE").read_text()


def test_extras_name_their_packages():
    extras = PROJECT["optional-dependencies"]
    assert {Requirement(r).name for r in extras["peers"]} >= {"torchattacks", "pyautoattack"}
    assert {"tensorboard", "mlflow", "wandb"} <= set(extras)
