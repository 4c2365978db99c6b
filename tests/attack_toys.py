"""Small models and a toy manifold for the attack tests (no data set needed, CPU, milliseconds)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from raysweep.data.batch import Batch

SHAPE = (1, 6, 6)  # C, H, W of the toy images
N_CLASSES = 3
LATENT = 3


def tiny_model(seed: int, kind: str = "cnn") -> nn.Module:
    """A random tiny classifier with BatchNorm (so eval mode matters); returns logits."""
    g = torch.Generator().manual_seed(seed)
    if kind == "linear":
        model = nn.Sequential(nn.Flatten(), nn.Linear(36, N_CLASSES))
    else:
        model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, N_CLASSES))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model


class ToyManifold:
    """Manifold protocol: dec(z, ctx) = sigmoid(A_c z + b_c) with a decoder per class when
    class_specific (ctx = the label, like the class VAE-GANs), codes from batch.z;
    codes with ||z||_inf > bound are invalid (the learned manifolds' bound)."""

    latent_dim = LATENT

    def __init__(self, seed: int = 0, class_specific: bool = True, bound: float = 0.9):
        g = torch.Generator().manual_seed(seed)
        k = N_CLASSES if class_specific else 1
        self.a = torch.randn(k, 36, LATENT, generator=g) * 2
        self.b = torch.randn(k, 36, generator=g) * 0.5
        self.class_specific = class_specific
        self.bound = bound
        self.lower = torch.full((LATENT,), -1.0)
        self.upper = torch.full((LATENT,), 1.0)

    def codes(self, batch: Batch) -> tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
        assert batch.z is not None
        ctx = batch.y[:, None] if self.class_specific else None
        return batch.z, ctx, batch.z.abs().amax(dim=1) <= self.bound

    def decode(self, z: torch.Tensor, ctx: Optional[torch.Tensor]) -> torch.Tensor:
        which = ctx[:, 0] if ctx is not None else torch.zeros(z.shape[0], dtype=torch.long, device=z.device)
        out = torch.einsum("bpd,bd->bp", self.a[which], z) + self.b[which]
        return torch.sigmoid(out).view(-1, *SHAPE)

    def to(self, device: torch.device | str) -> "ToyManifold":
        self.a, self.b = self.a.to(device), self.b.to(device)
        self.lower, self.upper = self.lower.to(device), self.upper.to(device)
        return self


def toy_batch(seed: int, n: int = 6) -> Batch:
    """Images in [0,1] (some pixels exactly 0 or 1, to exercise the box) and latent codes."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, *SHAPE, generator=g) * 1.4 - 0.2).clamp(0, 1)
    y = torch.randint(0, N_CLASSES, (n,), generator=g)
    z = torch.rand(n, LATENT, generator=g) * 2 - 1
    return Batch(x, y, z=z, idx=torch.arange(100, 100 + n))
