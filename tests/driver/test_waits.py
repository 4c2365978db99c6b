"""No silent hangs: a sweep whose manifold actors would starve its trials is refused before any
actor starts, and a wait that makes no progress says what waits for which resources.

Pure parts (raysweep.driver.preflight.check_actors_leave_room, raysweep.driver.progress.format_wait and
StallWatch) are tested on numbers; one Ray test holds a 2-CPU cluster's CPUs with another actor
and reads the line the driver prints while a manifold actor cannot start. The refusal of a real
deadlocking sweep spec, beside its cpu: 0 control that runs, is in tests/integration/test_sweep_manifold_report.py.
"""
from __future__ import annotations

import os
import threading
import time

import pytest

from raysweep._core.errors import UserError
from raysweep.resolve.plan import Request
from raysweep.driver.preflight import check_actors_leave_room
from raysweep.driver.progress import Demand, StallWatch, format_wait

TWO_CPUS = [{"CPU": 2.0}]


@pytest.mark.parametrize("actors, cpu, trial, nodes, fits", [
    (10, 1.0, Request(1, 0), TWO_CPUS, False),  # the measured hang: 10 VAE-GAN actors at cpu 1 on 2 cores
    (10, 0.0, Request(1, 0), TWO_CPUS, True),   # control: the shipped specs' cpu 0
    (1, 1.0, Request(1, 0), TWO_CPUS, True),    # exactly full is not a deadlock
    (2, 1.0, Request(1, 0), TWO_CPUS, False),
    (2, 1.5, Request(1, 0), [{"CPU": 2.0}, {"CPU": 2.0}], False),  # 4 CPUs in all, but no node keeps 1 free
    (2, 1.0, Request(2, 0), [{"CPU": 2.0}, {"CPU": 2.0}], True),   # actors on one node, the trial on the other
    (10, 0.0, Request(1, 0.5), [{"CPU": 2.0, "GPU": 1.0}], True),
    (12, 0.1, Request(0.5, 0.0), TWO_CPUS, True),
])
def test_actors_must_leave_room_for_one_trial(actors, cpu, trial, nodes, fits):
    if fits:
        check_actors_leave_room(actors, cpu, 0.0, [trial], nodes)
        return
    with pytest.raises(UserError) as e:
        check_actors_leave_room(actors, cpu, 0.0, [trial], nodes)
    line = str(e.value)
    assert "\n" not in line and f"each of {actors} manifold actors" in line and "manifolds.resources.cpu: 0" in line
    assert f"cpu {trial.cpu:g}" in line  # names the trial that would not fit


def test_every_trial_request_is_checked_not_only_the_smallest():
    small, large = Request(0.5, 0), Request(2, 0)
    check_actors_leave_room(1, 1.0, 0.0, [small], TWO_CPUS)
    with pytest.raises(UserError, match="cpu 2"):
        check_actors_leave_room(1, 1.0, 0.0, [small, large], TWO_CPUS)


def test_gpu_actors_count_against_the_gpus():
    with pytest.raises(UserError):
        check_actors_leave_room(10, 0.0, 0.1, [Request(1, 0.5)], [{"CPU": 4.0, "GPU": 1.0}])
    check_actors_leave_room(10, 0.0, 0.05, [Request(1, 0.5)], [{"CPU": 4.0, "GPU": 1.0}])


def test_wait_line_names_the_pending_demand_and_the_holders():
    line = format_wait([Demand("manifold actors", 8, 1.0, 0.0)], [Demand("ready manifold actors", 2, 1.0, 0.0)],
                       free={"CPU": 0.0}, total={"CPU": 2.0})
    assert line == "8 manifold actors wait for 1 CPU each; 2 CPUs are held by 2 ready manifold actors; 0 of 2 CPUs free"


def test_wait_line_control_a_slow_start_is_not_called_a_resource_wait():
    line = format_wait([Demand("trials", 3, 1.0, 0.0)], [], free={"CPU": 2.0}, total={"CPU": 2.0})
    assert "wait for" not in line and "nothing waits for resources" in line


def test_wait_line_on_an_autoscaling_cluster_says_waiting_for_nodes():
    line = format_wait([Demand("trials", 3, 1.0, 0.5)], [], free={"CPU": 0.0, "GPU": 0.0},
                       total={"CPU": 2.0, "GPU": 1.0}, autoscaling=True)
    assert line.startswith("waiting for nodes") and "1 CPU and 0.5 GPU each" in line and "0 of 1 GPUs free" in line


def test_stall_watch_counts_from_the_last_change():
    now = [0.0]
    watch = StallWatch(60.0, clock=lambda: now[0])
    assert watch.stalled("a") is None
    now[0] = 59.0
    assert watch.stalled("a") is None
    now[0] = 61.0
    assert watch.stalled("a") == pytest.approx(61.0)
    assert watch.stalled("b") is None  # progress resets it
    now[0] = 130.0
    assert watch.stalled("b") == pytest.approx(69.0)


@pytest.mark.ray
def test_stalled_actor_wait_prints_what_it_waits_for(ray_local):
    """A manifold actor that cannot start because another job holds both CPUs: the driver's line
    says so within the stall time, and the wait ends once the CPUs free up."""
    from raysweep.tune.actors import _wait_with_progress

    @ray_local.remote(num_cpus=2)
    class Hog:
        def ping(self) -> int:
            return os.getpid()

    @ray_local.remote(num_cpus=1)
    class Starved:
        def ping(self) -> int:
            return os.getpid()

    hog = Hog.remote()
    ray_local.get(hog.ping.remote())  # it holds both CPUs now
    ref = Starved.remote().ping.remote()
    lines: list[str] = []
    waiter = threading.Thread(target=_wait_with_progress, args=([ref], [None], "", lines.append),
                              kwargs=dict(every_s=0.2, request=(1.0, 0.0), stall_s=1.0), daemon=True)
    waiter.start()
    deadline = time.monotonic() + 30
    while not any("no progress" in line for line in lines) and time.monotonic() < deadline:
        time.sleep(0.2)
    stalled = [line for line in lines if "no progress" in line]
    assert stalled, lines
    assert "1 manifold actors wait for 1 CPU each" in stalled[-1] and "0 of 2 CPUs free" in stalled[-1], stalled[-1]
    ray_local.kill(hog)
    waiter.join(timeout=60)
    assert not waiter.is_alive() and lines[-1].startswith("manifolds: 1/1 VAE-GANs ready")


@pytest.mark.ray
def test_stalled_sweep_line_names_pending_trials_and_holders(ray_local):
    """Tune's phase: pending trials that cannot start, none running, while something else holds
    the CPUs; the progress line (printed as a plain line off a terminal) says so. Control: while a
    trial runs, waiting trials are the normal queue and get no clause."""
    import io
    from types import SimpleNamespace

    from raysweep.tune.progress_line import ProgressLine

    @ray_local.remote(num_cpus=2)
    class Hog:
        def ping(self) -> int:
            return os.getpid()

    hog = Hog.remote()
    ray_local.get(hog.ping.remote())

    def trial(status: str, cpu: float):
        return SimpleNamespace(status=status, config={},
                               placement_group_factory=SimpleNamespace(required_resources={"CPU": cpu}))

    out = io.StringIO()
    line = ProgressLine(out=out, log_every_s=0.0, serving=Demand("manifold actors", 10, 0.2, 0.0), stall_s=0.0)
    line.on_step_end(0, [trial("PENDING", 1.0)] * 3)
    text = out.getvalue().strip().splitlines()[-1]
    assert "3 trials wait for 1 CPU each" in text and "2 CPUs are held by 10 manifold actors" in text, text
    assert "0 of 2 CPUs free" in text
    ray_local.kill(hog)
    control = io.StringIO()  # a trial runs: the queue behind it is not a stall
    ProgressLine(out=control, log_every_s=0.0, stall_s=0.0).on_step_end(0, [trial("RUNNING", 2.0),
                                                                            trial("PENDING", 1.0)])
    assert "no trial started" not in control.getvalue()
