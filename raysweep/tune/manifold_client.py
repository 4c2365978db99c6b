"""The trial side of the manifold actors: a Manifold built locally from an actor's weights.

Trials never call the networks remotely for every step: the frozen weights cross the object store
once per worker process (CPU tensors, cached here) and the Manifold runs on the trial's device.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

import ray
import torch

from raysweep.device import default_device
from raysweep.errors import UserError
from raysweep.tune.actors import KINDS, NAMESPACE, _dataset_dict, _n_classes, actor_name


# actor name -> (identity, payload): the weights cross the object store once per worker process
# (Tune reuses trial processes); a small call per fetch notices an actor that serves new weights.
_CACHE: dict[str, tuple[str, dict[str, Any]]] = {}


def _payload(name: str) -> dict[str, Any]:
    actor = ray.get_actor(name, namespace=NAMESPACE)
    identity, (ref,) = ray.get(actor.weights_ref.remote())
    if _CACHE.get(name, ("",))[0] != identity:
        _CACHE[name] = (identity, ray.get(ref))
    return _CACHE[name][1]


def fetch_manifold(kind: str, dataset: Any, classes: Optional[Iterable[int]] = None,
                   device: Optional[torch.device] = None):
    """The Manifold of `kind`, built locally from weights fetched once per process.

    Call it inside a trial (or the driver) after ensure_manifold_actors. classes: the labels of
    kind "class" (default: every class of the data set).
    """
    ds = _dataset_dict(dataset)
    if kind not in KINDS:
        raise UserError(f"unknown manifold kind {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "class":
        labels = list(classes) if classes is not None else list(range(_n_classes(ds)))
    else:
        labels = [None]
    return _manifold_from_payloads([_payload(actor_name(ds, c, kind)) for c in labels], device)


def _class_manifold(payloads: Mapping[int, dict[str, Any]]):
    from raysweep.manifold.learned import ClassManifold, frozen_vae
    from raysweep.manifold.vaegan_train import VAEGANConfig

    # Each class may have its own lambda, but lambda does not change the architecture.
    return ClassManifold({c: frozen_vae(p["state_dict"], VAEGANConfig.from_dict(p["config"]))
                          for c, p in payloads.items()})


def _true_manifold(payload: dict[str, Any]):
    from raysweep.data.decoder import TrueDecoder
    from raysweep.manifold.true import TrueManifold

    meta = payload["meta"]
    return TrueManifold(TrueDecoder(meta["prototypes"]), torch.tensor(meta["theta_lower"]),
                        torch.tensor(meta["theta_upper"]))


def _manifold_from_payloads(payloads: list[dict[str, Any]], device: Optional[torch.device] = None):
    device = device or default_device()
    kinds = {p["kind"] for p in payloads}
    if len(kinds) != 1:
        raise ValueError(f"actors of different kinds {sorted(kinds)} cannot form one manifold")
    kind = kinds.pop()
    if kind == "class":
        return _class_manifold({p["cls"]: p for p in payloads}).to(device)
    if kind == "data":
        from raysweep.manifold.learned import DataManifold
        from raysweep.manifold.vaegan_train import VAEGANConfig

        (p,) = payloads
        return DataManifold.from_state_dict(p["state_dict"], VAEGANConfig.from_dict(p["config"])).to(device)
    (p,) = payloads
    return _true_manifold(p).to(device)


def manifold_from_actor(names: str, device: Optional[torch.device] = None):
    """Trial side of the hook: the Manifold served by the named actor(s), weights cached per process."""
    return _manifold_from_payloads([_payload(n) for n in names.split(",") if n], device)
