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
