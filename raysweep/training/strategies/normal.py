"""Normal training (Sec. 3.1): cross-entropy on the clean batch, nothing else."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from raysweep.data.batch import Batch
from raysweep._core.errors import UserError
from raysweep.training.strategy import STRATEGIES, StrategyContext


class NormalTraining:
    """Minimise the mean cross-entropy of the model's logits on the clean batch."""

    name = "normal"

    def loss_and_logits(self, model: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(batch.x)
        return F.cross_entropy(logits, batch.y), logits

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return self.loss_and_logits(model, batch)[0]


def _check(**params: Any) -> None:
    if params:
        raise UserError(f"strategy 'normal' takes no parameters; remove {', '.join(sorted(params))}")


@STRATEGIES.register("normal", "normal training: cross-entropy on clean images (Sec. 3.1)", family="normal",
                     check=_check)
def build_normal(ctx: StrategyContext, **params: Any) -> NormalTraining:
    _check(**params)
    return NormalTraining()

