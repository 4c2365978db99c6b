"""Shared test set-up: one torch thread (2-core CI machine, several tests side by side), no
network, and a tmp cache directory so tests never touch the user's cache."""
import os

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A private raysweep cache for the test (RAYSWEEP_CACHE is read by the data layer)."""
    d = tmp_path / "cache"
    monkeypatch.setenv("RAYSWEEP_CACHE", str(d))
    return d


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray with 2 CPUs and one fake GPU (scheduling only), shared by a test module."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():  # another module's Ray: start a clean one with fake GPUs
        ray.shutdown()
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, namespace="raysweep",
             object_store_memory=200 * 1024**2, log_to_driver=False)
    yield ray
    ray.shutdown()
