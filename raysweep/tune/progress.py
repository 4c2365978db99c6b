"""Sweep progress as a Tune callback: one compact line (done / running / pending / failed,
elapsed, ETA; the text itself is raysweep.progress's).

A plain line is printed whenever a trial finishes or fails (raysweep.progress.LineWriter).
"""
from __future__ import annotations

import time
from typing import Optional, TextIO

from ray.tune import Callback

from raysweep.packing import PACK_KEY
from raysweep.progress import Counts, LineWriter, format_duration, format_line, format_manifold_line  # noqa: F401


class ProgressLine(Callback):
    """A Tune callback drawing the progress line. `already_done` counts trials finished earlier."""

    def __init__(self, already_done: int = 0, out: Optional[TextIO] = None, log_every_s: float = 60.0):
        self.writer = LineWriter(out, log_every_s)
        self.already_done = already_done
        self.start = time.monotonic()
        self._finished = 0

    def counts(self, trials) -> Counts:
        c = Counts(done=self.already_done)
        for t in trials:
            st, models = t.status, len(t.config.get(PACK_KEY, [None]))  # counts are of models, not packs
            if st == "TERMINATED":
                c.done += models
            elif st == "ERROR":
                c.failed += models
            elif st == "RUNNING":
                c.running += models
            else:  # PENDING, PAUSED
                c.pending += models
        return c

    def _draw(self, trials, force: bool = False) -> None:
        c = self.counts(trials)
        self._finished = c.done - self.already_done + c.failed
        self.writer.write(format_line(c, time.monotonic() - self.start, self._finished), force)

    def on_step_end(self, iteration, trials, **info) -> None:
        self._draw(trials)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._draw(trials, force=True)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._draw(trials, force=True)

    def on_experiment_end(self, trials, **info) -> None:
        self._draw(trials, force=not self.writer.tty)
        self.writer.end()
