"""The trial side of the manifold actors: a Manifold built locally from an actor's weights.

Trials never call the networks remotely for every step: the frozen weights cross the object store
once per worker process (payloads of CPU tensors, cached here) and the Manifold runs on the
trial's device (raysweep.manifold.serving).
"""
from __future__ import annotations

from typing import Any, Optional

import ray
import torch

from raysweep.manifold.serving import manifold_from_payloads
from raysweep.tune.actors import NAMESPACE

# actor name -> (identity, payload): the weights cross the object store once per worker process
# (Tune reuses trial processes); a small call per fetch notices an actor that serves new weights.
_CACHE: dict[str, tuple[str, dict[str, Any]]] = {}


def _payload(name: str) -> dict[str, Any]:
    actor = ray.get_actor(name, namespace=NAMESPACE)
    identity, (ref,) = ray.get(actor.weights_ref.remote())
    if _CACHE.get(name, ("",))[0] != identity:
        _CACHE[name] = (identity, ray.get(ref))
    return _CACHE[name][1]


def manifold_from_actors(names: str, device: Optional[torch.device] = None):
    """The Manifold served by the named actor(s) (comma-separated, as ManifoldHandles.names()
    gives them), weights cached per process."""
    return manifold_from_payloads([_payload(n) for n in names.split(",") if n], device)
