"""Pick the torch device: CUDA when torch sees one, else CPU (Ray's fake GPU ids do not count)."""
from typing import Optional

import torch

from raysweep._core.errors import UserError


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(name: Optional[str]) -> torch.device:
    """`name` (cpu, cuda, cuda:1, ...) or the default; one UserError line when torch cannot use it,
    instead of the first CUDA call failing deep inside a run."""
    if not name:
        return default_device()
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"device {name!r} is not a torch device; use --device cpu or --device cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r}: torch sees no CUDA GPU here; use --device cpu or leave --device out")
    return device
