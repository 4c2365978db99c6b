"""The example plugin package (examples/raysweep-example-plugin) as a user installs it: pip puts it
into the venv, its `raysweep.plugins` entry point registers a model, a data set and an attack,
`raysweep list` shows them with their distribution, and a tiny sweep runs on all three at once,
learned class manifolds on the plugin's data set included, with a `--set` override that lands in the rows, TensorBoard on, and the epochs table filled."""
from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from raysweep.vaegan.config import DEFAULT_LAMBDA

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "examples" / "raysweep-example-plugin"
DIST = "raysweep-example-plugin"


def _installed() -> bool:
    try:
        return importlib.metadata.distribution(DIST) is not None
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.fixture(scope="module")
def plugin() -> None:
    """`make venv` installs the plugin; a venv made otherwise gets it here (no deps, no build
    isolation: setuptools from the venv, nothing downloaded, a few seconds)."""
    if not _installed():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--no-deps", "--no-build-isolation", "-e", str(PLUGIN)], check=True)
    assert _installed()


def _cli(*args: str, env: dict | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    # a fresh process: the editable install's import hook is read at interpreter start
    return subprocess.run([sys.executable, "-m", "raysweep.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def test_list_shows_the_plugin_entries_and_their_distribution(plugin):
    out = _cli("list", "--json")
    assert out.returncode == 0, out.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(out.stdout)}
    for key in (("models", "tv_resnet18"), ("datasets", "imagefolder"), ("attacks", "fgsm")):
        assert rows[key]["distribution"] == DIST and rows[key]["module"].startswith("raysweep_example_plugin")
    assert rows[("models", "cnn")]["distribution"] == "raysweep"
    text = _cli("list", "attacks").stdout
    assert "fgsm" in text and f"({DIST})" in text


@pytest.mark.ray  # `raysweep sweep` starts a local Ray; `raysweep list` above does not
def test_tiny_sweep_on_the_plugin_entries(plugin, tmp_path, cache_dir):
    code = f"from raysweep_example_plugin.data import write_demo_folder; write_demo_folder({str(tmp_path / 'set')!r})"
    subprocess.run([sys.executable, "-c", code], check=True)
    spec = {"name": "plugin", "dataset": {"name": "imagefolder", "options": {"root": str(tmp_path / "set")}},
            "grid": {"n": [8], "seed": [0], "arch": ["tv_resnet18"]},
            "strategies": [{"name": "normal", "resources": {"cpu": 1, "gpu": 0}}],
            "train": {"epochs": 3, "batch_size": 8},
            "evaluate": {"attacks": [{"name": "fgsm", "samples": 8, "restarts": 1, "params": {"eps": 0.2}},
                                     # the learned manifold on a data set the paper never used: its
                                     # VAE-GANs take the documented defaults (raysweep/vaegan/config.py)
                                     {"name": "onmanifold_class", "samples": 8, "restarts": 1}]},
            "manifolds": {"options": {"vaegan": {"width": 0.125, "steps": 4, "batch_size": 8}}},
            "callbacks": ["tensorboard", {"name": "tests.byo_callback:CountResults",  # a user's own tracker
                                          "options": {"out": str(tmp_path / "counted")}}],
            "storage": str(tmp_path / "out"), "retries": 0}
    path = tmp_path / "plugin.yaml"
    path.write_text(yaml.safe_dump(spec))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_DEDUP_LOGS": "0"}
    run = _cli("sweep", str(path), "--set", "train.epochs=2", env=env, timeout=280)
    assert run.returncode == 0, run.stderr[-3000:]
    tables = tmp_path / "out" / "plugin" / "tables"
    trials = pd.read_parquet(tables / "trials")
    assert list(trials["status"]) == ["ok"] and list(trials["arch"]) == ["tv_resnet18"]
    assert list(trials["train.epochs"]) == [2]  # the --set override, through the resolved config
    assert json.loads(trials["config_json"][0])["train"]["epochs"] == 2
    assert trials["fgsm.success_rate_attempt"].notna().all() and list(trials["fgsm.family"]) == ["regular"]
    assert trials["onmanifold_class.success_rate_attempt"].between(0, 1).all()
    manifolds = pd.read_parquet(tables / "manifolds")
    assert sorted(manifolds["class"]) == [0, 1] and set(manifolds["lam"]) == {DEFAULT_LAMBDA}
    # 4 steps over 12 images a class in batches of 8: 2 passes, each an lr epoch (not the default 30)
    assert set(manifolds["steps"]) == {4} and set(manifolds["epochs"]) == {2}
    examples = pd.read_parquet(tables / "examples")
    assert set(examples["attack"]) == {"fgsm", "onmanifold_class"} and (examples["attack"] == "fgsm").sum() == 8
    epochs = pd.read_parquet(tables / "epochs")
    assert list(epochs["epoch"]) == [1, 2] and set(epochs["trial_id"]) == set(trials["trial_id"])
    assert epochs["test_error"].between(0, 1).all()
    assert list((tmp_path / "out" / "plugin").rglob("events.out.tfevents*")), "TensorBoard wrote no events"
    assert len(list((tmp_path / "counted").iterdir())) >= 2, "the module:Class callback heard no results"
