"""Manifold actors: one Ray actor per (data set, class, kind) serves a manifold to every trial.

Kinds (the names in STRATEGY_NEEDS / ATTACK_NEEDS):
- "class": one actor per class, serving that class's VAE-GAN (supplement B.2);
- "data":  one actor serving the class-agnostic VAE-GAN (supplement G);
- "true":  one actor serving the FONTS true manifold (latent = theta, font and class fixed), so
           attacks and strategies never special-case FONTS.

An actor loads its finished VAE-GAN from storage and trains it first (fit_job) only if no
checkpoint exists; its arguments are plain values and storage paths, never ObjectRefs, so a
restart (max_restarts=-1) re-runs __init__ and reloads the checkpoint instead of retraining.
Trials never call the networks remotely for every step: raysweep.tune.manifold_client
pulls the frozen weights once per process through the object store (CPU tensors) and builds the
Manifold locally.

The driver creates the actors before Tuner.fit() with scheduling_strategy="DEFAULT", so they sit
outside trial placement groups and hold their small share before trials fill the GPU (Ray
otherwise deadlocks: ../shared/docs/ray-notes.md).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional

import ray
import torch

from raysweep.device import default_device
from raysweep.errors import UserError
from raysweep.models.vaegan import serving_state_dict
from raysweep.tune.vaegan_trainable import (
    VAEGANJob, class_rows, dataset_key, fit_job_resumable, job_dir, load_final, load_torch, save_torch, train_count,
    train_vaegans,
)

NAMESPACE = "raysweep"
KINDS = ("true", "class", "data")
ALL = "all"  # the class field of actors that serve every class
CODES = "codes.pt"  # cached encoder means of the class's train/test images, beside the checkpoint


def actor_name(dataset: Mapping[str, Any], cls: Optional[int], kind: str) -> str:
    """Deterministic, so every trial and a re-run driver find the same actor."""
    return f"raysweep-manifold-{dataset_key(dict(dataset))}-{kind}-{ALL if cls is None else cls}"


@dataclass(frozen=True)
class ManifoldOptions:
    """The sweep spec's `manifolds.options`: how the served VAE-GANs are trained.

    lambda_table: a Parquet table written by `raysweep tune-lambda` (columns class, lambda); a
    class missing from it, or no table, gets the paper's lambda (supplement B.2).
    """

    vaegan: dict[str, Any] = field(default_factory=dict)  # VAEGANConfig overrides (width, epochs)
    seed: int = 0
    train_size: Optional[int] = None  # cap on training images per model (smoke runs)
    lambda_table: Optional[str] = None
    code_batch: int = 500  # images per encoder call when caching latent codes
    # {"cpu": .., "gpu": ..}: train missing VAE-GANs first as parallel Tune trials with these
    # resources (vaegan_trainable), instead of inside the actors on their small share.
    train_resources: Optional[dict[str, float]] = None

    @classmethod
    def parse(cls, options: Optional[Mapping[str, Any]]) -> "ManifoldOptions":
        options = dict(options or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise UserError(f"manifolds.options: unknown key {unknown[0]!r}; use one of {', '.join(sorted(known))}")
        return cls(**options)


def _dataset_dict(dataset: Any) -> dict[str, Any]:
    """Accept the sweep spec's DatasetSpec (pydantic) or a plain {name, options} mapping."""
    if hasattr(dataset, "model_dump"):
        dataset = dataset.model_dump()
    return {"name": dataset["name"], "options": dict(dataset.get("options") or {})}


def read_lambda_table(path: Optional[str], kind: str = "class") -> dict[Optional[int], float]:
    """{class (None for the class-agnostic model): lambda} from a tune-lambda Parquet table."""
    if path is None:
        return {}
    from raysweep.tune.lambda_search import read_table

    df = read_table(path)
    df = df[df["kind"] == kind]
    return {(None if c < 0 else int(c)): float(lam) for c, lam in zip(df["class"], df["lambda"])}


def make_job(dataset: Mapping[str, Any], cls: Optional[int], opts: ManifoldOptions,
             lambdas: Mapping[Optional[int], float]) -> VAEGANJob:
    from raysweep.manifold.vaegan_train import paper_lambda

    lam = lambdas.get(cls, paper_lambda(dataset["name"], cls))
    return VAEGANJob(dataset=dict(dataset), cls=cls, lam=float(lam), vaegan=dict(opts.vaegan),
                     seed=opts.seed, train_size=opts.train_size)


# -- the actor -----------------------------------------------------------------------------------

@ray.remote
class ManifoldActor:
    """Serves one manifold: frozen weights, encode/decode, and cached codes of its class's images."""

    def __init__(self, kind: str, dataset: dict[str, Any], cls: Optional[int], storage: str,
                 job: Optional[dict[str, Any]] = None, code_batch: int = 500):
        torch.set_num_threads(1)  # actors share the node with trials; they mostly wait
        self._args = (kind, dataset, cls, storage, job, code_batch)
        self.kind, self.dataset, self.cls, self.storage = kind, dataset, cls, storage
        self.device = default_device()
        self.trained_here = False
        if kind == "true":
            self.payload, self._codes = _true_payload(dataset, cls)
            from raysweep.tune.manifold_client import _true_manifold  # (imports this module)

            self.true = _true_manifold(self.payload).to(self.device)
        else:
            self.job = VAEGANJob.from_dict(job)
            self.payload, self._codes = self._load_or_train(code_batch)
        self.payload_ref = ray.put(self.payload)

    def _load_or_train(self, code_batch: int):
        loaded = load_final(self.storage, self.job)
        if loaded is None:
            fit_job_resumable(self.job, self.storage, device=self.device)
            self.trained_here = True
            loaded = load_final(self.storage, self.job)
        model, record = loaded
        self.model = model.to(self.device).eval()
        payload = {
            "kind": self.kind, "cls": self.cls, "lam": record.lam, "config": record.cfg.to_dict(),
            "data_hash": record.data_hash, "metrics": record.metrics,
            "state_dict": serving_state_dict(model),
        }
        codes_path = f"{job_dir(self.storage, self.job)}/{CODES}"
        codes = None if self.trained_here else load_torch(codes_path)
        if codes is None:  # encode once, then a restarted actor needs no data set at all
            codes = self._encode_class_images(code_batch)
            save_torch(codes_path, codes)
        return payload, codes

    def _encode_class_images(self, code_batch: int) -> dict[str, dict[str, torch.Tensor]]:
        """Encoder means of the class's train and test images, with their row numbers."""
        from raysweep.data.dataset import load_dataset

        ds = load_dataset(self.dataset["name"], **self.dataset["options"])
        out = {}
        for name, split in (("train", ds.train), ("test", ds.test)):
            rows = class_rows(split.y, self.cls, None, 0)
            mus = [self.encode(split.batch(rows[i:i + code_batch]).x) for i in range(0, len(rows), code_batch)]
            out[name] = {"idx": rows, "z": torch.cat(mus) if mus else torch.zeros(0, self.model.arch.latent_dim)}
        return out

    # Served to trials. Weights travel as one object-store entry, returned by reference inside a
    # list so Ray does not resolve it here and every process on a node reads the same copy.
    def weights_ref(self) -> tuple[str, list]:
        return _identity(*self._args), [self.payload_ref]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder mean mu [B, d] (CPU) of images x [B, C, H, W] in [0,1]."""
        self._need_model("encode")
        with torch.no_grad():
            return self.model.encoder(x.to(self.device))[0].cpu()

    def decode(self, z: torch.Tensor, ctx: Optional[torch.Tensor] = None) -> torch.Tensor:
        """dec(z) [B, C, H, W] (CPU) for codes z [B, d]; the true manifold needs ctx = (font, class)."""
        with torch.no_grad():
            if self.kind == "true":
                return self.true.decode(z.to(self.device), ctx).cpu()
            return self.model.decoder(z.to(self.device)).cpu()

    def codes(self, split: str = "train") -> dict[str, torch.Tensor]:
        """{"idx": row numbers in the split, "z": latent codes} of this actor's class."""
        return self._codes[split]

    def serves(self) -> str:
        """What this actor was built from (compared by the driver before reusing it)."""
        return _identity(*self._args)

    def info(self) -> dict[str, Any]:
        """Who this is and how it got its weights (tests count training runs with it)."""
        count = 0 if self.kind == "true" else train_count(self.storage, self.job)
        return {"kind": self.kind, "cls": self.cls, "actor_id": ray.get_runtime_context().get_actor_id(),
                "pid": os.getpid(),
                "trained_here": self.trained_here, "train_count": count, "lam": self.payload.get("lam")}

    def _need_model(self, what: str) -> None:
        if self.kind == "true":
            raise UserError(f"{what} is not defined on the true manifold (its codes are the data's theta: "
                            "use codes()); project with raysweep.manifold.projection_latent instead")


def _true_payload(dataset: dict[str, Any], cls: Optional[int]):
    """FONTS: the prototypes and theta box TrueDecoder needs, and theta/ctx of both splits."""
    from raysweep.data.dataset import load_dataset

    ds = load_dataset(dataset["name"], **dataset["options"])
    if ds.train.z is None or "prototypes" not in ds.meta:
        raise UserError(f"data set {dataset['name']!r} has no true manifold; use kind 'class' or 'data' "
                        "(only FONTS knows its latent codes)")
    payload = {"kind": "true", "cls": cls, "meta": {k: ds.meta[k] for k in ("prototypes", "theta_lower",
                                                                                "theta_upper", "preset") if k in ds.meta}}
    codes = {}
    for name, split in (("train", ds.train), ("test", ds.test)):
        rows = class_rows(split.y, cls, None, 0)
        codes[name] = {"idx": rows, "z": split.z[rows], "ctx": split.ctx[rows]}
    return payload, codes


# -- driver side ---------------------------------------------------------------------------------

@dataclass
class ManifoldHandles:
    """The actors ensure_manifold_actors got or created, by kind and class (None: all classes)."""

    dataset: dict[str, Any]
    actors: dict[str, dict[Optional[int], Any]]  # kind -> class -> ActorHandle
    keep: bool = False

    def all(self) -> list:
        return [a for by_cls in self.actors.values() for a in by_cls.values()]


def _classes_for(kind: str, classes: Iterable[int]) -> list[Optional[int]]:
    return list(classes) if kind == "class" else [None]


def ensure_manifold_actors(dataset: Any, kinds: Iterable[str], storage: str, resources: Any = None,
                           *, classes: Optional[Iterable[int]] = None, options: Optional[Mapping[str, Any]] = None,
                           lambda_table: Optional[str] = None, keep: bool = False,
                           wait: bool = True) -> ManifoldHandles:
    """Get or create the actors for `kinds` (a subset of KINDS) before any trial starts.

    resources: the spec's ActorResources (or {"cpu": .., "gpu": ..}); GPU is dropped when the
    cluster has none. classes: labels served by kind "class" (default: every class of the data
    set). keep: detached actors that outlive the driver (teardown leaves them). wait: block until
    every actor has its weights (trains missing VAE-GANs now, not inside the first trial).
    """
    ds = _dataset_dict(dataset)
    kinds = sorted(set(k for k in kinds if k))
    for k in kinds:
        if k not in KINDS:
            raise UserError(f"unknown manifold kind {k!r}; use one of {', '.join(KINDS)}")
    opts = ManifoldOptions.parse(options)
    table = lambda_table or opts.lambda_table
    lambdas: dict[Optional[int], float] = {}
    for kind in {"class", "data"} & set(kinds):
        lambdas.update(read_lambda_table(table, kind))  # keys: labels, and None for "data"
    if classes is None and "class" in kinds:
        classes = range(_n_classes(ds))
    storage = storage if "://" in storage else _abspath(storage)
    cpu, gpu = _actor_resources(resources)
    handles = ManifoldHandles(dataset=ds, actors={}, keep=keep)
    wanted: dict[tuple[str, Optional[int]], tuple] = {}
    for kind in kinds:
        for cls in _classes_for(kind, classes or []):
            job = None if kind == "true" else make_job(ds, cls, opts, lambdas).to_dict()
            wanted[kind, cls] = (kind, ds, cls, storage, job, opts.code_batch)
    if opts.train_resources is not None:
        jobs = [VAEGANJob.from_dict(args[4]) for args in wanted.values() if args[4] is not None]
        train_vaegans(jobs, storage, cpu=float(opts.train_resources.get("cpu", 1.0)),
                      gpu=float(opts.train_resources.get("gpu", 0.0)))
    for (kind, cls), args in wanted.items():
        handles.actors.setdefault(kind, {})[cls] = _create(actor_name(ds, cls, kind), args, cpu, gpu, keep)
    if wait:
        _replace_stale(handles, wanted, cpu, gpu, keep)
    for (kind, cls) in wanted:
        _LIVE[actor_name(ds, cls, kind)] = handles.actors[kind][cls]
    return handles


# Driver-side handles of the actors ensure_manifold_actors made. A non-detached actor dies when
# its last handle goes away, and the sweep passes only names to trials, so the driver keeps one
# handle per name until teardown / stop_manifold_actors.
_LIVE: dict[str, Any] = {}


def _create(name: str, args: tuple, cpu: float, gpu: float, keep: bool):
    return ManifoldActor.options(
        name=name, namespace=NAMESPACE, get_if_exists=True, lifetime="detached" if keep else None,
        num_cpus=cpu, num_gpus=gpu, max_restarts=-1, max_task_retries=-1, scheduling_strategy="DEFAULT",
    ).remote(*args)


def _replace_stale(handles: ManifoldHandles, wanted: dict, cpu: float, gpu: float, keep: bool) -> None:
    """Wait for every actor; one left by an earlier sweep that serves another model (other
    lambda, width, storage) under the same name is replaced, never silently reused. All actors
    are created before this waits, so missing VAE-GANs train in parallel."""
    served = ray.get([handles.actors[kind][cls].serves.remote() for kind, cls in wanted])
    for (kind, cls), got in zip(wanted, served):
        args = wanted[kind, cls]
        if got != _identity(*args):
            name = actor_name(handles.dataset, cls, kind)
            ray.kill(handles.actors[kind][cls], no_restart=True)
            _wait_gone(name)
            handles.actors[kind][cls] = _create(name, args, cpu, gpu, keep)
            ray.get(handles.actors[kind][cls].serves.remote())


def _identity(kind, dataset, cls, storage, job, code_batch) -> str:
    """Everything that decides the served weights, as one string."""
    return json.dumps([kind, dataset, cls, storage, job], sort_keys=True, default=str)


def _wait_gone(name: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:
            return
        time.sleep(0.1)
    raise RuntimeError(f"actor {name} did not go away after ray.kill")


def teardown(handles: ManifoldHandles, keep: Optional[bool] = None) -> None:
    """Remove the sweep's actors at the end, unless asked to keep them for the next sweep."""
    if handles.keep if keep is None else keep:
        return
    for actor in handles.all():
        ray.kill(actor, no_restart=True)
    for kind, by_cls in handles.actors.items():  # ray.kill is asynchronous: free the names now
        for cls in by_cls:
            name = actor_name(handles.dataset, cls, kind)
            _wait_gone(name)
            _LIVE.pop(name, None)


def _n_classes(ds: dict[str, Any]) -> int:
    from raysweep.data.dataset import load_dataset

    return load_dataset(ds["name"], **ds["options"]).n_classes


def _abspath(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def _actor_resources(resources: Any) -> tuple[float, float]:
    if resources is None:
        cpu, gpu = 0.0, 0.05
    elif isinstance(resources, Mapping):
        cpu, gpu = float(resources.get("cpu", 0.0)), float(resources.get("gpu", 0.05))
    else:
        cpu, gpu = float(resources.cpu), float(resources.gpu)
    if gpu > 0 and ray.cluster_resources().get("GPU", 0) <= 0:
        gpu = 0.0  # same spec on a CPU-only cluster (the sweep prints the warning once)
    return cpu, gpu


# -- trial side ----------------------------------------------------------------------------------

# -- the sweep runner's hook (raysweep.tune.sweep / raysweep.tune.trainable) ---------------------

def start_manifold_actors(spec: Any, needs: Iterable[str]) -> dict[str, str]:
    """Sweep hook: create the actors for `needs` from a SweepSpec before Tuner.fit().

    Returns {kind: comma-separated actor names}, plain strings that travel in the trials'
    context; `manifold_from_actor` turns one back into a Manifold inside a trial.
    """
    handles = ensure_manifold_actors(spec.dataset, needs, spec.storage, spec.manifolds.resources,
                                     options=spec.manifolds.options, keep=spec.manifolds.keep)
    return {kind: ",".join(actor_name(handles.dataset, c, kind) for c in by_cls)
            for kind, by_cls in handles.actors.items()}


def stop_manifold_actors(actors: Mapping[str, str], keep: bool = False) -> None:
    """End of a sweep: kill the actors start_manifold_actors returned, unless asked to keep them."""
    if keep:
        return
    names = [n for joined in actors.values() for n in joined.split(",") if n]
    for n in names:
        try:
            ray.kill(ray.get_actor(n, namespace=NAMESPACE), no_restart=True)
        except ValueError:  # already gone
            pass
    for n in names:
        _wait_gone(n)
        _LIVE.pop(n, None)
