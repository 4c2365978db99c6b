"""Small tensor helpers shared by the training loops and the manifold actors."""
from __future__ import annotations

from typing import Any

import torch


def cpu_copy(obj: Any) -> Any:
    """Detached CPU copies of every tensor in nested dicts, lists and tuples.

    State dicts alias the live weights (and may sit on the GPU); checkpoints and object-store
    payloads need independent CPU copies that later training steps cannot change.
    """
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(cpu_copy(v) for v in obj)
    return obj
