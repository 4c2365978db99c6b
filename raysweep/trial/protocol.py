"""What a trial function is handed (`TrialHooks`) and what it returns (`TrialOutput`).

A spec's `trial:` may name any function `fn(cfg: TrialConfig, hooks: TrialHooks) -> TrialOutput`;
the built-in one is raysweep.trial.run.run_trial. The Tune trainable (raysweep.tune.trainable)
fills the hooks and writes the output's rows (raysweep.results.write).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import torch


@dataclass
class TrialHooks:
    """What the caller hands a trial besides its config.

    state:     a training checkpoint (from on_epoch's state_dict_fn) to resume from, or None.
    on_epoch:  on_epoch(epoch, metrics, state_dict_fn), called after each training epoch.
    manifolds: named manifolds provided by the caller, e.g. learned VAE-GANs served by the sweep's
               shared actors ({"class": ..., "data": ...}); "true" is built here when needed;
               "source_model": the transfer attack's source classifier (supplement E).
    device:    torch device; None picks CUDA when torch sees it, else CPU.
    """

    state: Optional[dict[str, Any]] = None
    on_epoch: Optional[Callable[..., None]] = None
    manifolds: dict[str, Any] = field(default_factory=dict)
    device: Optional[torch.device] = None


@dataclass
class TrialOutput:
    """row: trial-table columns measured by the trial; examples: example-table column arrays."""

    row: dict[str, Any]
    examples: dict[str, np.ndarray]
    epochs: list[dict[str, float]] = field(default_factory=list)  # one row per epoch (training.epoch_log)
    # attack key -> {"idx", "label", "x", "x_adv", "success"} for the first SAMPLE_IMAGES attacked
    # test images (the report's Fig. 2 grid); the trainable stores them beside the tables.
    samples: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
