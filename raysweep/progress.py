"""The text of the sweep's progress lines (no Ray: raysweep.tune.progress draws them).

- `format_line`: the trials' line (done / running / pending / failed, elapsed, ETA);
- `LineWriter`: on a terminal the line is redrawn in place; otherwise (a log file, `ray job
  logs`) a plain line is printed only when forced or at most every `log_every_s` seconds;
- `format_manifold_line`: before the trials, while the manifold actors train VAE-GANs, a line
  of their epochs and ETA, from the progress.json each training job writes per epoch.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Optional, TextIO


@dataclass
class Counts:
    done: int = 0
    running: int = 0
    pending: int = 0
    failed: int = 0


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
    'manifolds: 3/10 VAE-GANs ready, 7 training (epoch 4/10) | 05:10 elapsed, ETA 04:00'.

    states: each job's progress.json (raysweep.vaegan.job.read_progress) or None before its
    first epoch; ETA = remaining epochs x mean seconds per epoch / jobs training at once."""
    ready = sum(finished)
    busy = [s for s, f in zip(states, finished) if not f and s is not None and s["epochs_done"] < s["epochs"]]
    waiting = len(states) - ready - len(busy)  # loading a stored model, or not at its first epoch yet
    speeds = [s["epoch_s"] for s in busy if s.get("epoch_s")]
    epochs = sorted({f"{s['epochs_done']}/{s['epochs']}" for s in busy})
    text = f"manifolds: {ready}/{len(states)} VAE-GANs ready, {len(busy)} training"
    if epochs:
        text += f" (epoch {epochs[0]}" + (f" to {epochs[-1]}" if len(epochs) > 1 else "") + ")"
    if waiting:
        text += f", {waiting} loading or starting"
    eta = "00:00" if ready == len(states) else "--:--"
    if speeds:  # jobs not yet at their first epoch are counted as a full training each
        fresh = sum(1 for s, f in zip(states, finished) if not f and s is None)
        left = sum(s["epochs"] - s["epochs_done"] for s in busy) + fresh * busy[0]["epochs"]
        eta = format_duration(left * sum(speeds) / len(speeds) / max(1, len(busy)))
    return f"{text} | {format_duration(elapsed)} elapsed, ETA {eta}"


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
