"""Learning curves: one row per epoch for the `epochs` table (raysweep.results.schema.EPOCH_SCHEMA).

The training loop's own metrics (loss, train error, lr, time) plus the test error on a fixed
sample of test images, measured after every epoch. The rows travel inside the training
checkpoint, so a trial resumed from epoch k still writes rows 1..k it measured before.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

from torch import nn

from raysweep.data.batch import Split
from raysweep.training.loop import EpochCallback, evaluate
from raysweep.training.perturbed_log import COLUMNS as PERTURBED_COLUMNS

EPOCH_TEST_SAMPLES = 500  # test images scored after every epoch: cheap next to an epoch of training
STATE_KEY = "epoch_rows"  # where the rows ride in the training checkpoint


class EpochLog:
    """An on_epoch hook: records the row, then forwards the metrics (with the sample test error)
    and a checkpoint that carries the rows to the caller's hook."""

    def __init__(self, model: nn.Module, probe: Split, device: Any, forward: Optional[EpochCallback] = None,
                 state: Optional[dict[str, Any]] = None):
        self.model, self.probe, self.device, self.forward = model, probe, device, forward
        self.rows: list[dict[str, float]] = list(state.get(STATE_KEY, [])) if state else []
        self.seconds = 0.0  # time spent scoring the probe (the trial row's curve_time_s)

    def __call__(self, epoch: int, metrics: dict[str, float], state_fn: Callable[[], dict[str, Any]]) -> None:
        start = time.perf_counter()
        test_error = evaluate(self.model, self.probe, self.device)
        self.seconds += time.perf_counter() - start
        row = {"epoch": epoch + 1, "train_loss": metrics["train_loss"], "train_error": metrics["train_error"],
               "test_error": test_error, "lr": metrics["lr"], "epoch_time_s": metrics["epoch_time_s"],
               "images_per_s": metrics["images_per_s"],
               **{col: metrics.get(col) for col in PERTURBED_COLUMNS}}  # None without a perturbed half
        self.rows = [r for r in self.rows if r["epoch"] < epoch + 1] + [row]  # a re-run epoch replaces its row
        if self.forward is not None:
            rows = list(self.rows)
            self.forward(epoch, {**metrics, "sample_test_error": test_error}, lambda: {**state_fn(), STATE_KEY: rows})
