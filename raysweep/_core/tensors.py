"""Small tensor helpers shared by the training loops, the trial and the manifold actors."""
from __future__ import annotations

import ctypes
import functools
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


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc, already loaded into the process
    except (AttributeError, OSError, TypeError):  # another C library, or no dlopen(NULL) (Windows)
        return None


def release_freed_memory() -> None:
    """Hand the C heap's free pages back to the OS (glibc malloc_trim; a no-op elsewhere).

    Why: on the CPU an attack's working batches free hundreds of MB of tensors in blocks that
    glibc keeps for reuse; fragmented, they stay resident, and the next phase of a trial (another
    attack, a distance) allocates beside them instead of in them: a FONTS-1000 trial peaked 300 MB
    higher than its largest phase needs. The trial calls this between phases; it takes ~1 ms.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
