"""A model defined outside raysweep, as a user's own code would be: `tests.byo_model:SmallNet`
for `raysweep evaluate` (inputs [B, 1, 28, 28] in [0,1], logits out)."""
from __future__ import annotations

import torch
from torch import nn


class SmallNet(nn.Module):
    def __init__(self, n_classes: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 5, stride=2)
        self.head = nn.Linear(8 * 12 * 12, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).flatten(1))


def make_small(n_classes: int = 4) -> SmallNet:
    """The same model through a function (`tests.byo_model:make_small`)."""
    return SmallNet(n_classes)
