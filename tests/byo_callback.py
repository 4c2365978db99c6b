"""A user's own Tune tracker (`callbacks: [{name: "tests.byo_callback:CountResults", options: {out: DIR}}]`):
one file per result Tune hands it, so a test can see it was called."""
from __future__ import annotations

import os
import uuid

from ray.tune import Callback


class CountResults(Callback):
    def __init__(self, out: str):
        self.out = out

    def on_trial_result(self, iteration, trials, trial, result, **info):
        os.makedirs(self.out, exist_ok=True)
        open(os.path.join(self.out, uuid.uuid4().hex), "w").close()


class NotACallback:
    pass
