"""The text of the sweep's progress lines (no Ray: raysweep.tune.progress_line draws them).

- `format_line`: the trials' line (done / running / pending / failed, elapsed, ETA);
- `LineWriter`: on a terminal the line is redrawn in place; otherwise (a log file, `ray job
  logs`) a plain line is printed only when forced or at most every `log_every_s` seconds;
- `format_manifold_line`: before the trials, while the manifold actors train VAE-GANs, a line
  of their epochs and ETA, from the progress.json each training job writes per epoch;
- `StallWatch` and `format_wait`: when nothing has moved for a minute and work is pending, the
  line says what waits for which resources and who holds them, as Tune's own "no trial is
  running" warning does for trials (raysweep.tune.progress_line.wait_reason reads what Ray says is free).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Callable, Hashable, Mapping, Optional, Sequence, TextIO


@dataclass
class Counts:
    done: int = 0
    running: int = 0
    pending: int = 0
    failed: int = 0


@dataclass
class SweepSummary:
    """How a sweep run ended, in trials (the driver's last line says the same)."""

    total: int
    skipped: int  # rows existed before this run
    ok: int
    failed: int
    unfinished: int = 0  # pending trials without a row after Tune returned (interrupted)


def format_duration(s: float) -> str:
    s = int(max(0, s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def format_line(c: Counts, elapsed: float, finished_this_run: int) -> str:
    """e.g. 'sweep: 12 done, 2 running, 6 pending, 0 failed | 01:10 elapsed, ETA 00:35'."""
    left = c.running + c.pending
    if finished_this_run and left:
        eta = format_duration(elapsed / finished_this_run * left)
    else:
        eta = "--:--" if left else "00:00"
    return (f"sweep: {c.done} done, {c.running} running, {c.pending} pending, {c.failed} failed"
            f" | {format_duration(elapsed)} elapsed, ETA {eta}")


def format_manifold_line(states: list[Optional[dict]], finished: list[bool], elapsed: float) -> str:
    """The line shown while the manifold actors train their VAE-GANs, before any trial, e.g.
    'manifolds: 3/10 VAE-GANs ready, 7 training (step 120/400 to 200/400) | 05:10 elapsed, ETA 04:00'.

    states: each job's progress.json (raysweep.vaegan.job.read_progress) or None before it wrote
    one; ETA = remaining steps x mean seconds per step / jobs training at once."""
    ready = sum(finished)
    busy = [s for s, f in zip(states, finished) if not f and s is not None and s["steps_done"] < s["steps"]]
    waiting = len(states) - ready - len(busy)  # loading a stored model, or not at its first step yet
    speeds = [s["step_s"] for s in busy if s.get("step_s")]
    steps = sorted((s["steps_done"], s["steps"]) for s in busy)
    text = f"manifolds: {ready}/{len(states)} VAE-GANs ready, {len(busy)} training"
    if steps:
        text += f" (step {steps[0][0]}/{steps[0][1]}" + (f" to {steps[-1][0]}/{steps[-1][1]}" if steps[-1] != steps[0] else "") + ")"
    if waiting:
        text += f", {waiting} loading or starting"
    eta = "00:00" if ready == len(states) else "--:--"
    if speeds:  # jobs that have not written progress yet are counted as a full training each
        fresh = sum(1 for s, f in zip(states, finished) if not f and s is None)
        left = sum(s["steps"] - s["steps_done"] for s in busy) + fresh * busy[0]["steps"]
        eta = format_duration(left * sum(speeds) / len(speeds) / max(1, len(busy)))
    return f"{text} | {format_duration(elapsed)} elapsed, ETA {eta}"


STALL_S = 60.0  # Tune warns after the same 60 s without a trial starting


@dataclass(frozen=True)
class Demand:
    """`count` things (`what`: "manifold actors", "trials") asking for (cpu, gpu) each."""

    what: str
    count: int
    cpu: float
    gpu: float


def _amount(cpu: float, gpu: float) -> str:
    parts = [f"{cpu:g} CPU"] * (cpu > 0) + [f"{gpu:g} GPU"] * (gpu > 0)
    return " and ".join(parts) or "no CPU or GPU"


def format_wait(waiting: Sequence[Demand], holders: Sequence[Demand], free: Mapping[str, float],
                total: Mapping[str, float], autoscaling: bool = False) -> str:
    """Why nothing moves, e.g. '8 manifold actors wait for 1 CPU each; 2 CPUs are held by 2 ready
    manifold actors; 0 of 2 CPUs free'. free/total: Ray's available and cluster resources."""
    waiting = [d for d in waiting if d.count > 0]
    if not waiting:
        return "nothing is waiting to start"
    wants = "; ".join(f"{d.count} {d.what} wait for {_amount(d.cpu, d.gpu)} each" for d in waiting)
    held = [f"{d.count * d.cpu:g} CPUs" + (f" and {d.count * d.gpu:g} GPUs" if d.gpu > 0 else "")
            + f" are held by {d.count} {d.what}" for d in holders if d.count > 0 and (d.cpu > 0 or d.gpu > 0)]
    room = f"{free.get('CPU', 0.0):g} of {total.get('CPU', 0.0):g} CPUs free"
    if total.get("GPU", 0.0) > 0:
        room += f", {free.get('GPU', 0.0):g} of {total.get('GPU', 0.0):g} GPUs free"
    fits = all(d.cpu <= free.get("CPU", 0.0) + 1e-9 and d.gpu <= free.get("GPU", 0.0) + 1e-9 for d in waiting)
    if fits:  # a slow start (loading data, importing torch), not a resource wait
        return f"{wants.replace(' wait for ', ' are starting, asking for ')}; {room}, so nothing waits for resources"
    text = "; ".join([wants, *held, room])
    return f"waiting for nodes (the cluster autoscales): {text}" if autoscaling else text


def count_trials(trials: Sequence, already_done: int = 0, pack_key: str = "") -> Counts:
    """Counts of models (not Tune trials: a pack's config lists its members under `pack_key`) by
    Tune status; `already_done` finished in earlier runs."""
    c = Counts(done=already_done)
    for t in trials:
        models = len(t.config.get(pack_key, [None]))
        if t.status == "TERMINATED":
            c.done += models
        elif t.status == "ERROR":
            c.failed += models
        elif t.status == "RUNNING":
            c.running += models
        else:  # PENDING, PAUSED
            c.pending += models
    return c


def trial_demands(trials: Sequence, status: str, what: str) -> list[Demand]:
    """Tune trials of one status grouped by the (cpu, gpu) their placement group asks for in all
    (the field Tune's own insufficient-resources warning reads)."""
    asks: dict[tuple[float, float], int] = {}
    for t in trials:
        if t.status == status:
            need = t.placement_group_factory.required_resources
            key = (float(need.get("CPU", 0.0)), float(need.get("GPU", 0.0)))
            asks[key] = asks.get(key, 0) + 1
    return [Demand(what, n, cpu, gpu) for (cpu, gpu), n in sorted(asks.items())]


def actor_demands(states: list[Optional[dict]], done: list[bool], request: tuple[float, float]
                  ) -> tuple[list[Demand], list[Demand]]:
    """(waiting, holders) among manifold actors: those without a first epoch wait (or start);
    ready and training ones hold `request` = (cpu, gpu) each."""
    count = lambda keep: sum(1 for s, d in zip(states, done) if keep(s, d))  # noqa: E731
    waiting = [Demand("manifold actors", count(lambda s, d: not d and s is None), *request)]
    return waiting, [Demand("ready manifold actors", count(lambda s, d: d), *request),
                     Demand("training manifold actors", count(lambda s, d: not d and s is not None), *request)]


class StallWatch:
    """How long a progress state has stayed the same: `stalled(state)` returns the seconds since
    it last changed once that is at least `after_s`, else None."""

    def __init__(self, after_s: float = STALL_S, clock: Callable[[], float] = time.monotonic):
        self.after_s, self.clock = after_s, clock
        self._state: Hashable = object()
        self._since = clock()

    def stalled(self, state: Hashable) -> Optional[float]:
        now = self.clock()
        if state != self._state:
            self._state, self._since = state, now
        waited = now - self._since
        return waited if waited >= self.after_s else None


class LineWriter:
    """Writes successive progress lines to `out` (default stderr, looked up at each write)."""

    def __init__(self, out: Optional[TextIO] = None, log_every_s: float = 60.0):
        self._out = out
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.log_every_s = log_every_s
        self._last_line = ""
        self._last_print = 0.0

    @property
    def out(self) -> TextIO:
        return self._out or sys.stderr

    def __getstate__(self) -> dict:
        # Tune pickles its callbacks (which hold a writer) with the experiment state; streams do not pickle.
        return {**self.__dict__, "_out": None}

    def write(self, line: str, force: bool = False) -> None:
        now = time.monotonic()
        if self.tty:
            if line != self._last_line:
                self.out.write("\r\x1b[2K" + line)
                self.out.flush()
        elif force or now - self._last_print >= self.log_every_s:
            print(line, file=self.out, flush=True)
            self._last_print = now
        self._last_line = line

    def end(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()
