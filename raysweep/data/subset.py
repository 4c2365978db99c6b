"""Training subsets of size N (the paper's x-axis, Sec. 3.1 / 4).

The authors trained on the first N rows, so on FONTS a small N saw only N/10 fonts and the 5
repetitions per N differed only in initialisation. Ours draws a seeded, class-balanced subset
that is nested across N for one seed: the 250 images of seed 0 are inside its 500. Growing N
then only adds data, which is what a curve over N should measure.
"""
from __future__ import annotations

import torch

from raysweep._core.errors import UserError


def subset_order(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """All row indices in the order subsets take them: round-robin over classes (ascending),
    each class in its own seeded random order. Any prefix is as balanced as the classes allow."""
    labels = labels.cpu()
    g = torch.Generator().manual_seed(int(seed))
    classes = torch.unique(labels)  # sorted
    rank = torch.empty_like(labels, dtype=torch.long)
    for c in classes:
        rows = torch.nonzero(labels == c).squeeze(1)
        rank[rows[torch.randperm(len(rows), generator=g)]] = torch.arange(len(rows))
    class_pos = torch.searchsorted(classes, labels)
    key = rank * len(classes) + class_pos  # unique per row: round r visits every class once
    return torch.argsort(key)


def subset(labels, n: int, seed: int) -> torch.Tensor:
    """Indices (int64, ascending) of a class-balanced subset of n rows, deterministic in (n, seed)
    and nested in n. `labels` is an int tensor [N] or anything with `.y` (a Split)."""
    labels = getattr(labels, "y", labels)
    n_classes = int(torch.unique(labels).numel())
    if n > len(labels):
        raise UserError(f"N={n} is larger than the training split ({len(labels)} images); choose N <= {len(labels)}")
    if n < n_classes:
        raise UserError(f"N={n} cannot cover the {n_classes} classes; choose N >= {n_classes}")
    return torch.sort(subset_order(labels, seed)[:n]).values
