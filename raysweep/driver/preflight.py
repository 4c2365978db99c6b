"""Checks of a sweep's cluster before any trial starts: the address answers, and every resource
request fits on some node. No Ray here: the driver (raysweep.tune.sweep_runner) passes in what Ray says
about the cluster.

- An address Ray cannot parse raises a ValueError deep in ray.init, and one where nothing
  listens makes ray.init retry for minutes; a plain TCP connect says so in seconds.
- Ray queues a request no node can satisfy forever (an "infeasible" warning in the logs), so a
  spec asking each trial for `cpu: 64` on a 2-core machine would hang instead of failing.
  Requests are compared with the alive nodes' total resources (what a node could ever offer,
  not what is free now). A cluster that autoscales is judged by the nodes it has when the sweep
  starts, as the GPU check in raysweep.resolve.plan.strategy_requests already is.
- The manifold actors are created before the trials and serve until the sweep ends, so what
  they reserve is never free for trials. If the actors, all alive at once, leave no node room
  for a trial, every trial waits forever (seen: 10 actors at `cpu: 1` on 2 cores, 2 trained and
  kept their CPUs, 8 never started). `check_actors_leave_room` refuses such a spec before any
  actor starts.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Iterable, Mapping

from raysweep.config.trial_config import TrialConfig
from raysweep.config.schema import SweepSpec
from raysweep._core.errors import UserError
from raysweep.resolve.facts import manifold_kinds
from raysweep.resolve.plan import Request


RAY_CLIENT_PORT = 10001  # Ray Client's default, for ray://HOST without a port


def check_address(address: str, source: str) -> None:
    """`address` (from `source`: --address or RAY_ADDRESS) is auto, local, HOST:PORT or
    ray://HOST[:PORT], and something listens there."""
    if address in ("auto", "local"):
        return
    client = address.startswith("ray://")
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if client and (not sep or not port.isdigit()):  # ray://HOST: the client port is implied
        host, port = address.removeprefix("ray://"), str(RAY_CLIENT_PORT)
    if not host or not port.isdigit():
        raise UserError(f"{source} {address}: not a Ray address; use auto, HOST:6379 (the head node) or "
                        "ray://HOST:10001 (Ray Client)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise UserError(f"{source} {address}: nothing answers there ({e.strerror or e}); start the cluster "
                        "(`ray up cluster.yaml` or `ray start --head`) or fix the address") from None


def _fits(cpu: float, gpu: float, node: Mapping[str, float]) -> bool:
    return cpu <= node.get("CPU", 0.0) + 1e-9 and gpu <= node.get("GPU", 0.0) + 1e-9


def _largest(nodes: list[Mapping[str, float]]) -> str:
    cpu = max((n.get("CPU", 0.0) for n in nodes), default=0.0)
    gpu = max((n.get("GPU", 0.0) for n in nodes), default=0.0)
    return f"the largest of the {len(nodes)} node(s) has cpu {cpu:g}, gpu {gpu:g}"


def _asks(spec: SweepSpec, requests: Mapping[str, Request], pending: Iterable[TrialConfig], has_gpu: bool
          ) -> list[tuple[str, float, float]]:
    """(key path, cpu, gpu) of every request this sweep will make, GPUs dropped on a CPU cluster
    as the trials (raysweep.resolve.plan) and the actors (raysweep.tune.actors) drop them."""
    index = {s.key: i for i, s in enumerate(spec.strategies)}
    asks = []
    for key, r in requests.items():
        own = spec.strategies[index[key]].resources is not None
        asks.append((f"strategies[{index[key]}].resources" if own else f"resources (strategy {key})", r.cpu, r.gpu))
    if manifold_kinds(pending) - {"true"}:  # learned manifolds: actors
        m = spec.manifolds
        for path, res in (("manifolds.resources", m.resources),
                          ("manifolds.options.train_resources", m.options.train_resources)):
            if res is not None:
                asks.append((path, res.cpu, res.gpu if has_gpu else 0.0))
    return asks


def check_requests_fit(spec: SweepSpec, requests: Mapping[str, Request], pending: list[TrialConfig],
                       nodes: list[Mapping[str, float]], has_gpu: bool) -> None:
    """One UserError line for the first request that none of the alive `nodes` (their total
    resources, as ray.nodes() gives them) can hold."""
    for path, cpu, gpu in _asks(spec, requests, pending, has_gpu):
        if not any(_fits(cpu, gpu, n) for n in nodes):
            raise UserError(f"{path} asks for cpu {cpu:g}, gpu {gpu:g} but {_largest(nodes)}, so it would wait "
                            "forever; lower the request in the spec or add a node that large")


def _pack(items: list[tuple[float, float]], nodes: list[Mapping[str, float]]) -> bool:
    """Whether `items` (cpu, gpu) fit on `nodes` together: first-fit decreasing, as good as the
    scheduler's own placement for these few uniform actor requests (it places one at a time)."""
    free = [[n.get("CPU", 0.0), n.get("GPU", 0.0)] for n in nodes]
    for cpu, gpu in sorted(items, reverse=True):
        node = next((f for f in free if cpu <= f[0] + 1e-9 and gpu <= f[1] + 1e-9), None)
        if node is None:
            return False
        node[0] -= cpu
        node[1] -= gpu
    return True


def check_actors_leave_room(actors: int, actor_cpu: float, actor_gpu: float, trial_requests: Iterable[Request],
                            nodes: list[Mapping[str, float]]) -> None:
    """One UserError line when `actors` manifold actors of (actor_cpu, actor_gpu) each, all alive
    for the whole sweep, leave no room on the alive `nodes` (their total resources) for one trial
    of some request in `trial_requests` (GPU already dropped on a CPU cluster)."""
    if actors <= 0 or (actor_cpu <= 0 and actor_gpu <= 0):
        return
    for r in sorted(set(trial_requests), key=lambda r: (-r.cpu, -r.gpu)):
        if not _pack([(actor_cpu, actor_gpu)] * actors + [(r.cpu, r.gpu)], nodes):
            cpus = sum(n.get("CPU", 0.0) for n in nodes)
            gpus = sum(n.get("GPU", 0.0) for n in nodes)
            raise UserError(
                f"manifolds.resources asks cpu {actor_cpu:g}, gpu {actor_gpu:g} for each of {actors} manifold actors, "
                f"which all stay alive serving until the sweep ends ({actors * actor_cpu:g} CPUs, "
                f"{actors * actor_gpu:g} GPUs); with one trial (cpu {r.cpu:g}, gpu {r.gpu:g}) that does not fit on "
                f"this cluster ({cpus:g} CPUs, {gpus:g} GPUs in {len(nodes)} node(s)), so the sweep would wait "
                "forever; set manifolds.resources.cpu: 0 (serving actors mostly wait) and give VAE-GAN training "
                "its own share with manifolds.options.train_resources: {cpu: 1}, or add nodes")


def autoscaling() -> bool:
    """Whether the cluster was started by the cluster launcher (`ray up`), which can add nodes:
    the test Tune makes (ray.tune.execution.cluster_info), on the bootstrap file it leaves."""
    return Path("~/ray_bootstrap_config.yaml").expanduser().exists()


def leave_job_working_dir() -> None:
    """Under `ray job submit` the driver starts inside the job's unpacked working_dir, which Ray's
    runtime-env agent may unpack again (a new directory under the same name) or delete while the
    sweep runs; the driver's cwd is then gone and Tune's fit() dies in os.path.relpath
    (ray-project/ray#52343). Storage paths are absolute by now, so leave the directory first."""
    if "runtime_resources" in os.getcwd():
        os.chdir(os.path.expanduser("~"))
