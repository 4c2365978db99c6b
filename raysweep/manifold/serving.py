"""Manifolds as payloads: what a manifold actor ships to trials, and the Manifold built from it.

A payload is a dict of plain values and CPU tensors (safe through Ray's object store and on
CPU-only workers): `kind` ("true", "class", "data"), `cls`, and either the FONTS meta the true
decoder needs or a VAE-GAN's serving weights with its config. No Ray here: raysweep.tune.actors
ships payloads, raysweep.tune.manifold_client turns them back into Manifolds with
`manifold_from_payloads`. The actors' names and the driver's `ManifoldHandles` live here too
(plain values; the actors themselves are raysweep.tune.actors).
"""
from __future__ import annotations

from dataclasses import dataclass, field
import hashlib
import json
from typing import Any, Iterable, Optional

import torch

from raysweep.config.schema import DatasetSpec
from raysweep.data import load_dataset
from raysweep._core.device import default_device
from raysweep._core.errors import UserError
from raysweep.manifold.jobs import manifold_jobs
from raysweep.manifold.learned import ClassManifold, DataManifold, frozen_vae
from raysweep.manifold.true import TrueManifold
from raysweep._core.registry import MANIFOLD_KINDS
from raysweep.vaegan.config import VAEGANConfig
from raysweep.vaegan.job import class_rows, dataset_key
from raysweep.vaegan.network import serving_state_dict

TRUE_META = ("prototypes", "theta_lower", "theta_upper", "preset")
ALL = "all"  # the class field of actors that serve every class


def actor_name(dataset: DatasetSpec, cls: Optional[int], kind: str, served: str = "") -> str:
    """Deterministic, so every trial and a re-run driver find the same actor; `served` (the
    actor's identity: storage, VAE-GAN job) goes in as a digest, so two sweeps serving different
    models never share, replace or tear down each other's actors under one name."""
    digest = f"-{hashlib.sha256(served.encode()).hexdigest()[:10]}" if served else ""
    return f"raysweep-manifold-{dataset_key(dataset)}-{kind}-{ALL if cls is None else cls}{digest}"


def served_identity(kind: str, dataset: dict[str, Any], cls: Optional[int], where: str, job: Optional[dict]) -> str:
    """Everything that decides the served weights, as one string."""
    return json.dumps([kind, dataset, cls, where, job], sort_keys=True, default=str)


@dataclass
class ManifoldHandles:
    """The actors ensure_manifold_actors got or created, by kind and class (None: all classes)."""

    dataset: DatasetSpec
    actors: dict[str, dict[Optional[int], Any]]  # kind -> class -> ActorHandle
    detached: bool = False
    named: dict[str, dict[Optional[int], str]] = field(default_factory=dict)  # kind -> class -> actor name
    request: tuple[float, float] = (0.0, 0.0)  # (cpu, gpu) each actor holds while the sweep runs

    def all(self) -> list:
        return [a for by_cls in self.actors.values() for a in by_cls.values()]

    def names(self) -> dict[str, str]:
        """{kind: comma-separated actor names}: plain strings that travel in the trials' context."""
        return {kind: ",".join(self.named.get(kind, {}).get(c) or actor_name(self.dataset, c, kind) for c in by_cls)
                for kind, by_cls in self.actors.items()}



def load_spec_dataset(dataset: dict[str, Any]):
    """The data set a spec's `dataset` entry (as a plain dict) names."""
    return load_dataset(dataset["name"], **dataset["options"])


def planned_actors(dataset: DatasetSpec, kinds: Iterable[str], where: str, options: Any,
                   classes: Optional[Iterable[int]], plugins: Iterable[str]) -> dict[tuple[str, Optional[int]], tuple]:
    """(kind, class) -> the ManifoldActor's arguments, for every actor `kinds` need (classes:
    the labels kind "class" serves; default every class of the data set)."""
    kinds = sorted(set(kinds))
    for k in kinds:
        if k not in MANIFOLD_KINDS:
            raise UserError(f"unknown manifold kind {k!r}; use one of {', '.join(MANIFOLD_KINDS)}")
    if classes is None and "class" in kinds:
        classes = range(load_spec_dataset(dataset.model_dump()).n_classes)
    return {(kind, cls): (kind, dataset.model_dump(), cls, where, None if job is None else job.to_dict(),
                          options.code_batch, tuple(plugins))
            for (kind, cls), job in manifold_jobs(dataset, kinds, options, classes or []).items()}


def true_payload(ds, cls: Optional[int]) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """FONTS: (payload, codes) with the prototypes and theta box, and theta/ctx of both splits."""
    if ds.train.z is None or "prototypes" not in ds.meta:
        raise UserError(f"data set {ds.name!r} has no true manifold; use kind 'class' or 'data' "
                        "(only FONTS knows its latent codes)")
    payload = {"kind": "true", "cls": cls, "meta": {k: ds.meta[k] for k in TRUE_META if k in ds.meta}}
    codes = {}
    for name, split in (("train", ds.train), ("test", ds.test)):
        rows = class_rows(split.y, cls, None, 0)
        codes[name] = {"idx": rows, "z": split.z[rows], "ctx": split.ctx[rows]}
    return payload, codes


def class_codes(encode, ds, cls: Optional[int], batch_size: int, latent_dim: int) -> dict[str, dict[str, torch.Tensor]]:
    """Encoder means (what `encode` gives) of the class's train and test images, with their row
    numbers: cached beside the checkpoint, so a restarted actor needs no data set at all."""
    out = {}
    for name, split in (("train", ds.train), ("test", ds.test)):
        rows = class_rows(split.y, cls, None, 0)
        mus = [encode(split.batch(rows[i:i + batch_size]).x) for i in range(0, len(rows), batch_size)]
        out[name] = {"idx": rows, "z": torch.cat(mus) if mus else torch.zeros(0, latent_dim)}
    return out


def learned_payload(kind: str, cls: Optional[int], model, record) -> dict[str, Any]:
    """A trained VAE-GAN's serving weights (encoder and decoder) with its config and provenance."""
    return {"kind": kind, "cls": cls, "lam": record.lam, "config": record.cfg.to_dict(),
            "data_hash": record.data_hash, "metrics": record.metrics, "state_dict": serving_state_dict(model)}


def manifold_from_payloads(payloads: list[dict[str, Any]], device: Optional[torch.device] = None):
    """One Manifold from the payloads of one kind (one per class for "class", else one)."""
    device = device or default_device()
    kinds = {p["kind"] for p in payloads}
    if len(kinds) != 1:
        raise ValueError(f"payloads of different kinds {sorted(kinds)} cannot form one manifold")
    kind = kinds.pop()
    if kind == "class":
        # Each class may have its own lambda, but lambda does not change the architecture.
        models = {p["cls"]: frozen_vae(p["state_dict"], VAEGANConfig.from_dict(p["config"])) for p in payloads}
        return ClassManifold(models).to(device)
    (p,) = payloads
    if kind == "data":
        return DataManifold.from_state_dict(p["state_dict"], VAEGANConfig.from_dict(p["config"])).to(device)
    return TrueManifold.from_meta(p["meta"]).to(device)
