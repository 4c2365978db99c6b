"""Shared test set-up: one torch thread (2-core CI machine, several tests side by side), no
network, a tmp cache directory so tests never touch the user's cache, and one home for the
local Ray the sweep tests share.

`make test` runs two pytest-xdist workers. Every test that starts Ray (in this process or in a
subprocess: `ray start`, `raysweep sweep`, bench_sweep) carries the `ray` mark or a Ray fixture;
those all run in one xdist group, one after another, as before, while the other worker runs the
rest. Two Ray instances side by side would share fixed ports (the dashboard agent's) and `ray
start`'s current-cluster file, which an address-less ray.init joins. A test without the mark gets
RAY_ADDRESS pointing at a closed port, so one that starts Ray anyway fails instead of joining or
disturbing another test's cluster.
"""
import os
import sys
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).resolve().parent
# The test helpers (sweep_fixtures and the other modules beside this file) are importable by name
# here, and in every process a test starts: Ray workers inherit the raylet's environment and
# import the fixtures' plugin entries by name, `raysweep` subprocesses load them as plugins.
sys.path.insert(0, str(TESTS))
os.environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")])
# One auth mode for every Ray a test starts and every client (ray-notes: they must agree); the
# token-auth test sets its own.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

torch.set_num_threads(1)
# Ray renices its worker processes to 15 (RayConfig worker_niceness), so beside the other xdist
# worker's tests (niceness 0) every trial, actor and task of the Ray group ran starved: measured
# on 2 cores, bench_sweep's smoke spent 94 s creating its two trial actors under load and 10 s
# with this. Every Ray the tests start (ray.init, `ray start`, `raysweep sweep` subprocesses)
# inherits it from the environment.
os.environ.setdefault("RAY_worker_niceness", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")

RAY_FIXTURES = {"ray_local", "ray_session"}
NO_RAY_ADDRESS = "127.0.0.1:9"  # the discard port: nothing listens there


def uses_ray(item: pytest.Item) -> bool:
    return item.get_closest_marker("ray") is not None or bool(RAY_FIXTURES & set(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if uses_ray(item):
            item.add_marker(pytest.mark.xdist_group("ray"))


@pytest.fixture(autouse=True)
def _no_ray_unless_marked(request, monkeypatch):
    if not uses_ray(request.node):
        monkeypatch.setenv("RAY_ADDRESS", NO_RAY_ADDRESS)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A private raysweep cache for the test (RAYSWEEP_CACHE is read by the data layer)."""
    d = tmp_path / "cache"
    monkeypatch.setenv("RAYSWEEP_CACHE", str(d))
    return d


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray with 2 CPUs and one fake GPU (scheduling only), shared by a test module; yields
    its GCS address (what the test's `raysweep sweep --address` drivers join). A Ray left by
    another module is shut down first: each module starts from a clean one."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, namespace="raysweep",
             object_store_memory=200 * 1024**2, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def ray_local(ray_session):
    """ray_session's Ray, as the ray module (for tests that call ray.get or ray.get_actor)."""
    import ray

    return ray
