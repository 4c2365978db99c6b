"""What adversarial training's inner problem did, per epoch (the epochs table's `adv_*` columns).

Memorised training points have tiny gradients, so an inner attack may barely leave its random
start (Eq. 19) and the "adversarial" half of each batch may be noise augmentation in disguise.
These columns say which: the perturbed half's success rate and cross-entropy at the random start
and at the kept iterate (both with the model in eval mode, as the attack sees it), how far the
optimiser moved from the start, and the perturbation's L2 size. A random-noise strategy
(`random_image`, zero iterations) is the control: start and kept iterate coincide, drift 0.
"""
from __future__ import annotations

import math

import torch

from raysweep.results.schema import PERTURBED_COLUMNS

# epochs-table column adv_<key> <- summary key of raysweep.attacks.base.TrainingExamples (a mean per row)
COLUMNS = {column: column.removeprefix("adv_") for column in PERTURBED_COLUMNS}


class PerturbedLog:
    """Sums of TrainingExamples.summary() over an epoch's batches, kept on the device (no sync
    per batch); `take()` turns them into per-row means and starts the next epoch."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}

    def add(self, summary: dict[str, torch.Tensor]) -> None:
        for key, value in summary.items():
            self.sums[key] = self.sums[key] + value if key in self.sums else value.detach().clone()

    def take(self) -> dict[str, float]:
        """{column: mean over the epoch's perturbed rows}; NaN where no row was perturbed."""
        sums, self.sums = {k: float(v) for k, v in self.sums.items()}, {}
        rows = sums.get("rows", 0.0)
        return {col: sums[key] / rows if rows else math.nan for col, key in COLUMNS.items()}
