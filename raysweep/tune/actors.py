"""Manifold actors: one Ray actor per (data set, kind, class) serves a manifold to every trial:
"class" (one per class, its VAE-GAN, supplement B.2), "data" (the class-agnostic VAE-GAN,
supplement G), "true" (FONTS' known manifold; sweep trials build it themselves).

An actor loads its finished VAE-GAN from storage, training it first (raysweep.vaegan.job) only if
no checkpoint exists; its arguments are plain values and storage URIs, never ObjectRefs, so a
restart (max_restarts=-1) reloads the checkpoint. Trials fetch the frozen weights once per process
(raysweep.tune.manifold_client). The driver creates the actors before Tuner.fit(), outside trial
placement groups, so they hold their share before trials fill the GPU (ray-notes.md: deadlock).
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterable, Optional

import ray
import torch

from raysweep._core import storage
from raysweep.config.schema import ActorResources, DatasetSpec, ManifoldOptions
from raysweep._core.device import default_device
from raysweep.driver.preflight import check_actors_leave_room
from raysweep.driver.progress import STALL_S, StallWatch, actor_demands, format_duration, format_manifold_line
from raysweep._core.errors import UserError
from raysweep.manifold.serving import (
    ManifoldHandles, actor_name, class_codes, learned_payload, load_spec_dataset, manifold_from_payloads, planned_actors,
    served_identity, true_payload,
)
from raysweep.resolve import catalog
from raysweep.resolve.plan import Request
from raysweep.tune.progress_line import wait_reason
from raysweep.tune.vaegan_trainable import train_vaegans
from raysweep.vaegan.job import VAEGANJob, fit_job, job_dir, load_final, read_progress, train_count

NAMESPACE = "raysweep"
CODES = "codes.pt"  # cached encoder means of the class's train/test images, beside the checkpoint


@ray.remote
class ManifoldActor:
    """Serves one manifold: frozen weights, encode/decode, and cached codes of its class's images."""

    def __init__(self, kind: str, dataset: dict[str, Any], cls: Optional[int], where: str,
                 job: Optional[dict[str, Any]] = None, code_batch: int = 500, plugins: tuple[str, ...] = ()):
        torch.set_num_threads(1)  # actors share the node with trials; they mostly wait
        catalog.load(plugins)  # a plugin's data set must build in this process too
        self._identity = served_identity(kind, dataset, cls, where, job)
        self.kind, self.dataset, self.cls, self.where = kind, dataset, cls, where
        self.device = default_device()
        self.trained_here = False
        self.job = None if job is None else VAEGANJob.from_dict(job)
        if kind == "true":
            self.payload, self._codes = true_payload(load_spec_dataset(dataset), cls)

            self.true = manifold_from_payloads([self.payload], self.device)
        else:
            self.payload, self._codes = self._load_or_train(code_batch)
        self.payload_ref = ray.put(self.payload)

    def _load_or_train(self, code_batch: int):
        loaded = load_final(self.where, self.job)
        if loaded is None:
            fit_job(self.job, self.where, device=self.device, keep_partial=True)
            self.trained_here = True
            loaded = load_final(self.where, self.job)
        model, record = loaded
        self.model = model.to(self.device).eval()
        codes_at = job_dir(self.where, self.job) / CODES
        codes = None if self.trained_here else storage.load_torch(codes_at)
        if codes is None:  # encode once, then a restarted actor needs no data set at all
            codes = self._encode_class_images(code_batch)
            storage.save_torch(codes_at, codes)
        return learned_payload(self.kind, self.cls, model, record), codes

    def _encode_class_images(self, code_batch: int) -> dict[str, dict[str, torch.Tensor]]:
        return class_codes(self.encode, load_spec_dataset(self.dataset), self.cls, code_batch,
                           self.model.arch.latent_dim)

    # Served to trials. Weights travel as one object-store entry, returned by reference inside a
    # list so Ray does not resolve it here and every process on a node reads the same copy.
    def weights_ref(self) -> tuple[str, list]:
        return self._identity, [self.payload_ref]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder mean mu [B, d] (CPU) of images x [B, C, H, W] in [0,1]."""
        if self.kind == "true":
            raise UserError("encode is not defined on the true manifold (its codes are the data's theta: "
                            "use codes()); project with raysweep.manifold.projection_latent instead")
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
        return self._identity

    def info(self) -> dict[str, Any]:
        """Who this is and how it got its weights (tests count training runs with it)."""
        count = 0 if self.job is None else train_count(self.where, self.job)
        return {"kind": self.kind, "cls": self.cls, "actor_id": ray.get_runtime_context().get_actor_id(),
                "pid": os.getpid(), "trained_here": self.trained_here, "train_count": count,
                "lam": self.payload.get("lam")}


# -- driver side ---------------------------------------------------------------------------------

def ensure_manifold_actors(dataset: DatasetSpec, kinds: Iterable[str], where: str,
                           resources: ActorResources = ActorResources(), *,
                           options: ManifoldOptions = ManifoldOptions(), classes: Optional[Iterable[int]] = None,
                           detached: bool = False, wait: bool = True,
                           progress: Optional[Callable[[str], None]] = None,
                           plugins: tuple[str, ...] = (),
                           trial_requests: Iterable[Request] = ()) -> ManifoldHandles:
    """Get or create the actors for `kinds` (manifold kinds) before any trial starts.

    GPU is dropped when the cluster has none. classes: labels served by kind "class" (default:
    every class of the data set). detached: actors that outlive the driver (teardown leaves
    them). wait: block until every actor has its weights (trains missing VAE-GANs now, not inside
    the first trial). progress: called with a line every few seconds while VAE-GANs train.
    trial_requests: what the trials will ask for; the actors must leave room for one of each.
    """
    where = storage.uri(where)
    cpu, gpu = _actor_resources(resources)
    wanted = planned_actors(dataset, kinds, where, options, classes, plugins)
    check_actors_leave_room(len(wanted), cpu, gpu, trial_requests, alive_node_resources())
    if options.train_resources is not None:
        jobs = [VAEGANJob.from_dict(args[4]) for args in wanted.values() if args[4] is not None]
        train_vaegans(jobs, where, cpu=options.train_resources.cpu, gpu=options.train_resources.gpu)
    handles = ManifoldHandles(dataset=dataset, actors={}, detached=detached, request=(cpu, gpu))
    for (kind, cls), args in wanted.items():
        name = actor_name(dataset, cls, kind, served_identity(*args[:5]))
        handles.named.setdefault(kind, {})[cls] = name
        handles.actors.setdefault(kind, {})[cls] = _create(name, args, cpu, gpu, detached)
    if wait:
        try:
            # every actor exists before this waits, so missing VAE-GANs train in parallel (an actor
            # found under a name serves that name's model: the name carries a digest of it)
            refs = [handles.actors[kind][cls].serves.remote() for kind, cls in wanted]
            _wait_with_progress(refs, [args[4] for args in wanted.values()], where, progress, request=(cpu, gpu))
        except ray.exceptions.RayActorError as e:  # __init__ raised: the cause's last line, not a traceback
            cause = str(e).strip().splitlines()[-1].split(": ", 1)[-1]
            raise UserError(f"a manifold actor could not start: {cause}") from None
    return handles


def alive_node_resources() -> list[dict[str, float]]:
    """Each alive node's total resources (what it could ever offer, not what is free now)."""
    return [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]


def _create(name: str, args: tuple, cpu: float, gpu: float, detached: bool):
    return ManifoldActor.options(
        name=name, namespace=NAMESPACE, get_if_exists=True, lifetime="detached" if detached else None,
        num_cpus=cpu, num_gpus=gpu, max_restarts=-1, max_task_retries=-1, scheduling_strategy="DEFAULT",
    ).remote(*args)


def _wait_with_progress(refs: list, jobs: list, where: str, progress: Optional[Callable[[str], None]],
                        every_s: float = 15.0, request: tuple[float, float] = (0.0, 0.0),
                        stall_s: float = STALL_S) -> list:
    """ray.get(refs), with progress(line) every `every_s` s while VAE-GANs train, then an all-ready
    line. When no actor has moved for `stall_s`, the line also says what the actors that have not
    started wait for (each asks for `request` = (cpu, gpu)) and who holds the cluster."""
    start, pending = time.monotonic(), ray.wait(list(refs), num_returns=len(refs), timeout=2.0)[1]
    shown = bool(pending) and progress is not None  # nothing is printed when every model just loads
    watch = StallWatch(stall_s)
    while shown and pending:
        states = [None if j is None else read_progress(where, VAEGANJob.from_dict(j)) for j in jobs]
        done = [r.hex() not in {p.hex() for p in pending} for r in refs]
        line = format_manifold_line(states, done, time.monotonic() - start)
        stalled = watch.stalled((tuple(done), tuple(None if s is None else s["steps_done"] for s in states)))
        if stalled is not None:
            line += f" | no progress for {format_duration(stalled)}: {wait_reason(*actor_demands(states, done, request))}"
        progress(line)
        pending = ray.wait(pending, num_returns=len(pending), timeout=every_s)[1]
    if shown:
        progress(format_manifold_line([None] * len(refs), [True] * len(refs), time.monotonic() - start))
    return ray.get(refs)


def _wait_gone(name: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:
            return
        time.sleep(0.1)
    raise RuntimeError(f"actor {name} did not go away after ray.kill")


def teardown(handles: ManifoldHandles) -> None:
    """Remove the sweep's actors at the end, unless they are detached (kept for the next sweep)."""
    if handles.detached:
        return
    for actor in handles.all():
        ray.kill(actor, no_restart=True)
    for names in handles.names().values():  # ray.kill is asynchronous: free the names now
        for name in names.split(","):
            _wait_gone(name)


def _actor_resources(resources: ActorResources) -> tuple[float, float]:
    cpu, gpu = float(resources.cpu), float(resources.gpu)
    if gpu > 0 and ray.cluster_resources().get("GPU", 0) <= 0:
        gpu = 0.0  # same spec on a CPU-only cluster (the sweep prints the warning once)
    return cpu, gpu
