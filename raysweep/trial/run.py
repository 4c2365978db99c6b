"""Run one trial of a sweep without Ray: one classifier, trained and then evaluated (Sec. 3).

`run_trial(cfg, hooks)` builds the data subset (N images, seeded, class-balanced), the model and
the strategy; trains it (resuming from `hooks.state` and calling `hooks.on_epoch` after every
epoch, which the Tune trainable turns into a report with a checkpoint); then measures the test
error, runs every configured attack and distance measurement, and returns the trial row and the
per-(sample, restart) example columns. The Tune trainable (raysweep.tune.trainable) is thin glue
over this function, and a sweep spec may name another function with the same signature. The
registries are filled by the caller, once per process (raysweep.resolve.catalog.load with the
spec's plugins).
"""
from __future__ import annotations

from typing import Optional

from raysweep.config.trial_config import TrialConfig
from raysweep._core.device import default_device
from raysweep.trial.artifacts import dataset_for, provide_manifolds
from raysweep.trial.evaluate import evaluate_trained
from raysweep.trial.prepare import build_and_train
from raysweep.trial.protocol import TrialHooks, TrialOutput


def run_trial(cfg: TrialConfig, hooks: Optional[TrialHooks] = None) -> TrialOutput:
    """Train and evaluate one classifier; the whole of one sweep trial, without Ray."""
    hooks = hooks or TrialHooks()
    device = hooks.device or default_device()
    ds = dataset_for(cfg)
    manifolds = provide_manifolds(cfg, ds, hooks.manifolds, device)
    model, stats = build_and_train(cfg, ds, manifolds, hooks, device)
    return evaluate_trained(cfg, model, stats, ds, manifolds, device)
