"""Sweep progress as a Tune callback: one compact line (done / running / pending / failed,
elapsed, ETA; the text itself is raysweep.driver.progress's).

A plain line is printed whenever a trial finishes or fails (raysweep.driver.progress.LineWriter). When
trials have waited a minute with none running, the line says what the pending trials ask for,
who holds the cluster (the manifold actors, or others) and what is free.
"""
from __future__ import annotations

import time
from typing import Optional, Sequence, TextIO

import ray
from ray.tune import Callback

from raysweep.resolve.packing import PACK_KEY
from raysweep.driver.progress import (
    STALL_S, Counts, Demand, LineWriter, StallWatch, count_trials, format_duration, format_line, format_wait, trial_demands,
)
from raysweep.driver.preflight import autoscaling


class ProgressLine(Callback):
    """A Tune callback drawing the progress line. `already_done` counts trials finished earlier."""

    def __init__(self, already_done: int = 0, out: Optional[TextIO] = None, log_every_s: float = 60.0,
                 serving: Optional[Demand] = None, stall_s: float = STALL_S):
        self.writer = LineWriter(out, log_every_s)
        self.already_done = already_done
        self.start = time.monotonic()
        self._finished = 0
        self.serving = serving  # the manifold actors: they hold their share for the whole sweep
        self.watch = StallWatch(stall_s)

    def counts(self, trials) -> Counts:
        return count_trials(trials, self.already_done, PACK_KEY)

    def _draw(self, trials, force: bool = False) -> None:
        c = self.counts(trials)
        self._finished = c.done - self.already_done + c.failed
        line = format_line(c, time.monotonic() - self.start, self._finished)
        waiting = c.pending and not c.running  # as Tune's own warning: a running trial is progress
        stalled = self.watch.stalled((c.done, c.running, c.failed)) if waiting else None
        if stalled is not None:
            line += f" | no trial started or finished for {format_duration(stalled)}: {self.wait_reason(trials)}"
        self.writer.write(line, force)

    def wait_reason(self, trials: Sequence) -> str:
        """Pending trials by what they ask for; running trials and manifold actors as holders."""
        holders = trial_demands(trials, "RUNNING", "running trials") + ([self.serving] if self.serving else [])
        return wait_reason(trial_demands(trials, "PENDING", "trials"), holders)

    def on_step_end(self, iteration, trials, **info) -> None:
        self._draw(trials)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._draw(trials, force=True)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._draw(trials, force=True)

    def on_experiment_end(self, trials, **info) -> None:
        self._draw(trials, force=not self.writer.tty)
        self.writer.end()


def wait_reason(waiting: Sequence[Demand], holders: Sequence[Demand]) -> str:
    """The stall clause: demands and holders against what Ray says is free (no state API needed)."""
    return format_wait(waiting, holders, ray.available_resources(), ray.cluster_resources(), autoscaling())
