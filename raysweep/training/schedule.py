"""The classifier's learning-rate schedule (reference implementation, "Classifier and training").

The authors decay the rate continuously: at batch `b` of `num_batches` in (0-based) epoch `e`
the rate is lr * decay^(e + 1 + b / num_batches), updated every iteration. Note the "+ 1": even
the first step already uses lr * decay.
"""
from __future__ import annotations

import math


def num_batches(n: int, batch_size: int) -> int:
    """Batches per epoch; the last one may be short (ceil, as the original)."""
    return math.ceil(n / batch_size)


def lr_at(lr: float, decay: float, epoch: int, batch: int, batches: int) -> float:
    """Learning rate for `batch` (0-based) of `batches` in `epoch` (0-based)."""
    return lr * decay ** (epoch + 1 + batch / batches)
