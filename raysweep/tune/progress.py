"""Sweep progress as a Tune callback: one compact line (done / running / pending / failed,
elapsed, ETA; the text itself is raysweep.progress's).

On a terminal the line is redrawn in place; otherwise (a log file, `ray job logs`) a plain line is
printed only when a trial finishes or fails, or at most every `log_every_s` seconds, so logs stay
short.
"""
from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

from ray.tune import Callback

from raysweep.progress import Counts, format_duration, format_line, format_manifold_line  # noqa: F401


class ProgressLine(Callback):
    """A Tune callback drawing the progress line. `already_done` counts trials finished earlier."""

    def __init__(self, already_done: int = 0, out: Optional[TextIO] = None, log_every_s: float = 60.0):
        self._out = out
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.already_done = already_done
        self.log_every_s = log_every_s
        self.start = time.monotonic()
        self._last_line = ""
        self._last_print = 0.0
        self._finished = 0

    @property
    def out(self) -> TextIO:
        return self._out or sys.stderr

    def __getstate__(self) -> dict:
        # Tune pickles its callbacks with the experiment state; streams do not pickle.
        return {**self.__dict__, "_out": None}

    def counts(self, trials) -> Counts:
        c = Counts(done=self.already_done)
        for t in trials:
            st = t.status
            if st == "TERMINATED":
                c.done += 1
            elif st == "ERROR":
                c.failed += 1
            elif st == "RUNNING":
                c.running += 1
            else:  # PENDING, PAUSED
                c.pending += 1
        return c

    def _draw(self, trials, force: bool = False) -> None:
        c = self.counts(trials)
        self._finished = c.done - self.already_done + c.failed
        line = format_line(c, time.monotonic() - self.start, self._finished)
        now = time.monotonic()
        if self.tty:
            if line != self._last_line:
                self.out.write("\r\x1b[2K" + line)
                self.out.flush()
        elif force or now - self._last_print >= self.log_every_s:
            print(line, file=self.out, flush=True)
            self._last_print = now
        self._last_line = line

    def on_step_end(self, iteration, trials, **info) -> None:
        self._draw(trials)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._draw(trials, force=True)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._draw(trials, force=True)

    def on_experiment_end(self, trials, **info) -> None:
        self._draw(trials, force=not self.tty)
        if self.tty:
            self.out.write("\n")
            self.out.flush()
