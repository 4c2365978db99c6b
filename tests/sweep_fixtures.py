"""Test plugin for sweep specs (`plugins: [sweep_fixtures]`): a tiny synthetic data set and two
strategies that make scheduling observable, so sweep tests never wait for FONTS generation.

- dataset `tiny`: 10 classes of 1x28x28 blobs (class = blob position) plus noise, seeded.
- strategy `barrier`: normal training, but its first loss call waits until `parties` trials have
  reached the barrier (files in `dir`), proving they ran at the same time.
- strategy `explode`: raises on every attempt and counts attempts in `dir`.
- strategy `flaky`: raises once, at its `fail_at`-th batch, then trains normally (retry resume).
Workers import this module by name, so tests put tests/ on PYTHONPATH.
"""
from __future__ import annotations

import os
import time
import uuid

import torch
import torch.nn.functional as F

from raysweep.data.batch import Split
from raysweep.data.dataset import DATASETS, Dataset
from raysweep.training.strategy import STRATEGIES


def _split(n: int, gen: torch.Generator) -> Split:
    y = torch.arange(n) % 10
    x = torch.rand(n, 1, 28, 28, generator=gen) * 60
    rows, cols = (y // 5) * 14, (y % 5) * 5  # each class a 10x5 bright patch somewhere else
    for i in range(n):
        x[i, 0, rows[i]:rows[i] + 10, cols[i]:cols[i] + 5] += 180
    return Split(x.clamp(0, 255).to(torch.uint8), y.long())


if "tiny" not in DATASETS:
    @DATASETS.register("tiny", "synthetic 10-class blobs for tests")
    def tiny(train_size: int = 400, test_size: int = 100, **_: object) -> Dataset:
        gen = torch.Generator().manual_seed(0)
        return Dataset("tiny", _split(train_size, gen), _split(test_size, gen), 10, "tiny-v1")


class Barrier:
    name = "barrier"

    def __init__(self, dir: str, parties: int, timeout_s: float = 60.0):
        self.dir, self.parties, self.timeout_s, self.waited = dir, parties, timeout_s, False

    def loss(self, model, batch):
        if not self.waited:
            os.makedirs(self.dir, exist_ok=True)
            open(os.path.join(self.dir, uuid.uuid4().hex), "w").close()
            deadline = time.time() + self.timeout_s
            while len(os.listdir(self.dir)) < self.parties:
                if time.time() > deadline:
                    raise TimeoutError(f"only {len(os.listdir(self.dir))} of {self.parties} trials ran together")
                time.sleep(0.05)
            self.waited = True
        return F.cross_entropy(model(batch.x), batch.y)


class Explode:
    name = "explode"

    def __init__(self, dir: str):
        self.dir = dir

    def loss(self, model, batch):
        os.makedirs(self.dir, exist_ok=True)
        open(os.path.join(self.dir, uuid.uuid4().hex), "w").close()
        raise RuntimeError("boom: this strategy always fails")


class Killed:
    """SIGKILLs its own worker process once, at loss call `kill_at` (a marker file remembers it):
    what a node's OOM killer or a lost machine does to a trial mid-training."""

    name = "killed"

    def __init__(self, dir: str, kill_at: int):
        self.dir, self.kill_at, self.calls = dir, kill_at, 0

    def loss(self, model, batch):
        import signal

        self.calls += 1
        marker = os.path.join(self.dir, "killed-once")
        if self.calls == self.kill_at and not os.path.exists(marker):
            os.makedirs(self.dir, exist_ok=True)
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return F.cross_entropy(model(batch.x), batch.y)


class Refuse:
    """Raises a UserError (a deterministic failure: bad input) and counts attempts in `dir`."""

    name = "refuse"

    def __init__(self, dir: str):
        self.dir = dir

    def loss(self, model, batch):
        from raysweep._core.errors import UserError

        os.makedirs(self.dir, exist_ok=True)
        open(os.path.join(self.dir, uuid.uuid4().hex), "w").close()
        raise UserError("refuse: this input can never train; fix the spec")


class Flaky:
    """Fails once, at loss call `fail_at` of its first attempt (a marker file remembers it)."""

    name = "flaky"

    def __init__(self, dir: str, fail_at: int):
        self.dir, self.fail_at, self.calls = dir, fail_at, 0

    def loss(self, model, batch):
        self.calls += 1
        marker = os.path.join(self.dir, "failed-once")
        if self.calls == self.fail_at and not os.path.exists(marker):
            os.makedirs(self.dir, exist_ok=True)
            open(marker, "w").close()
            raise RuntimeError("flaky: first attempt dies mid-training")
        return F.cross_entropy(model(batch.x), batch.y)


class FlakyInProcess:
    """Normal training that fails once, at the process's `fail_at`-th loss call over all its
    instances (so inside a pack, a later member fails after an earlier one finished); every call
    leaves a file in `dir`/calls, so a test counts how much training ran in all attempts."""

    name = "flaky_in_process"
    calls = 0

    def __init__(self, dir: str, fail_at: int):
        self.dir, self.fail_at = dir, fail_at

    def loss(self, model, batch):
        FlakyInProcess.calls += 1
        os.makedirs(os.path.join(self.dir, "calls"), exist_ok=True)
        open(os.path.join(self.dir, "calls", uuid.uuid4().hex), "w").close()
        marker = os.path.join(self.dir, "failed-once")
        if FlakyInProcess.calls == self.fail_at and not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError("flaky_in_process: the pack's worker dies mid-training")
        return F.cross_entropy(model(batch.x), batch.y)


if "barrier" not in STRATEGIES:
    STRATEGIES.register("barrier", "test: wait for N trials")(lambda ctx, **p: Barrier(**p))
    STRATEGIES.register("explode", "test: always raises")(lambda ctx, **p: Explode(**p))
    STRATEGIES.register("flaky", "test: fails once mid-training")(lambda ctx, **p: Flaky(**p))
    STRATEGIES.register("refuse", "test: a deterministic failure (UserError)")(lambda ctx, **p: Refuse(**p))
    STRATEGIES.register("flaky_in_process", "test: fails once, counted over the process")(
        lambda ctx, **p: FlakyInProcess(**p))
    STRATEGIES.register("killed", "test: SIGKILLs its worker once mid-training")(lambda ctx, **p: Killed(**p))


def tiny_spec(storage: str, **overrides) -> dict:
    """A spec dict over the tiny data set: real model, training and attack, seconds per trial."""
    spec = {
        "name": "tiny",
        "plugins": ["sweep_fixtures"],
        "dataset": {"name": "tiny"},
        "grid": {"n": [50, 100], "seed": [1, 2], "arch": ["cnn"]},
        "strategies": [{"name": "normal", "resources": {"cpu": 0.5, "gpu": 0.1}}],
        "train": {"epochs": 2, "batch_size": 50},
        "evaluate": {"attacks": [{"name": "linf", "samples": 10, "restarts": 2, "params": {"iterations": 5}}],
                     "distances": [{"method": "knn", "attack": "linf", "samples": 5, "k": 8}]},
        "storage": storage,
        "retries": 1,
        "checkpoint_every_s": 0,  # every epoch: the resume tests count epochs
    }
    spec.update(overrides)
    return spec


def spec_file(tmp_path, **overrides) -> str:
    """tiny_spec written as tmp_path/spec.yaml, storage under tmp_path/out; returns its path."""
    import yaml

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(str(tmp_path / "out"), **overrides)))
    return str(path)


def row_files(table_dir) -> list:
    """The committed part files of a local table: a writer's temporary files (".tmp-<id>-<name>",
    which pathlib's "*.parquet" also matches) are not rows yet, and a killed writer leaves them."""
    return [p for p in table_dir.glob("*.parquet") if not p.name.startswith(".tmp-")] if table_dir.is_dir() else []
