"""One VAE-GAN to train as a resumable job, and where it lives in storage (supplement B.2).

A `VAEGANJob` names one model: data set, class (None: the class-agnostic "data" manifold), the
weight lambda of Eq. 7-8, VAEGANConfig overrides and a seed. `fit_job` trains it and writes the
finished checkpoint to a deterministic place, `<storage>/manifolds/<dataset key>/<job key>/`,
where the manifold actors (raysweep.tune.actors) look for it. No Ray here: the Tune trainable
(raysweep.tune.vaegan_trainable) and the actors call these functions.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
import hashlib
import json
import time
from typing import Any, Callable, Mapping, Optional

import torch

from raysweep._core import storage
from raysweep.config.schema import DatasetSpec, ManifoldOptions
from raysweep.data import load_dataset
from raysweep._core.device import default_device
from raysweep.vaegan.checkpoint import load_checkpoint, load_training_state, save_checkpoint, save_training_state
from raysweep.vaegan.collapse import MIN_DIVERSITY, attempt_of, attempt_seed, collapsed, reconstruction_diversity
from raysweep.vaegan.config import VAEGANConfig, default_lambda
from raysweep.vaegan.schedule import Schedule, schedule
from raysweep.vaegan.fit import train_vaegan

FINAL = "vaegan.pt"
PARTIAL = "partial.pt"  # last finished epoch, so an actor killed mid-training resumes
COUNTER = "train_count.json"  # how often training started from scratch (tests count it)
PROGRESS = "progress.json"  # epochs and steps done while training (the sweep's progress line)
# progress.json is rewritten at most this often within an epoch: a paper epoch is 960 steps (FONTS)
# and a short schedule is a single epoch, so per-epoch progress showed nothing until the end
PROGRESS_EVERY_S = 5.0
# Bumped when fit_job's procedure changes what a job produces (2: collapse restarts; 3: the
# paper's schedule in steps, raysweep.vaegan.schedule), so models trained by an older procedure
# are not served as this one's.
TRAINING_VERSION = 3


def digest(obj: Any, n: int = 10) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def dataset_key(dataset: DatasetSpec) -> str:
    """Stable short name of a data set spec: actor names and storage paths use it."""
    return f"{dataset.name}-{digest({'name': dataset.name, 'options': dataset.options})}"


@dataclass(frozen=True)
class VAEGANJob:
    """One VAE-GAN to train. Plain values only, so it survives pickling to any Ray worker."""

    dataset: dict[str, Any]  # DatasetSpec.model_dump(): {"name": ..., "options": {...}}
    cls: Optional[int]  # None: class-agnostic, trained on every class
    lam: float  # lambda of Eq. 7-8
    vaegan: dict[str, Any] = field(default_factory=dict)  # VAEGANConfig overrides (width, epochs)
    seed: int = 0
    train_size: Optional[int] = None  # cap on training images (smoke runs)

    @property
    def kind(self) -> str:
        return "data" if self.cls is None else "class"

    @property
    def dataset_spec(self) -> DatasetSpec:
        return DatasetSpec.model_validate(self.dataset)

    def describe(self) -> str:
        """What the job trains on, for messages: 'fmnist class 3 (train_size 500)'."""
        who = "all classes" if self.cls is None else f"class {self.cls}"
        cap = "" if self.train_size is None else f" (train_size {self.train_size})"
        return f"{self.dataset['name']} {who}{cap}"

    def key(self) -> str:
        who = "all" if self.cls is None else str(self.cls)
        rest = digest({"vaegan": self.vaegan, "seed": self.seed, "train_size": self.train_size,
                       "training": TRAINING_VERSION}, 8)
        return f"{self.kind}-{who}-lam{self.lam:.4g}-{rest}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VAEGANJob":
        return cls(**d)


def make_job(dataset: DatasetSpec, cls: Optional[int], opts: ManifoldOptions,
             lambdas: Mapping[Optional[int], float]) -> VAEGANJob:
    """The job for one class (None: class-agnostic). Lambda: the tune-lambda table's for the class,
    else the spec's `vaegan.lam`, else the paper's (raysweep.vaegan.config.default_lambda)."""
    lam = lambdas.get(cls, opts.vaegan.get("lam", default_lambda(dataset.name, cls)))
    return VAEGANJob(dataset=dataset.model_dump(), cls=cls, lam=float(lam), vaegan=dict(opts.vaegan),
                     seed=opts.seed, train_size=opts.train_size)


def job_dir(where: str | storage.Location, job: VAEGANJob) -> storage.Location:
    return storage.resolve(where) / "manifolds" / dataset_key(job.dataset_spec) / job.key()


def train_count(where: str | storage.Location, job: VAEGANJob) -> int:
    """How many times this job's training started from scratch (0: never trained here)."""
    data = storage.read_bytes(job_dir(where, job) / COUNTER)
    return 0 if data is None else int(json.loads(data)["fresh_starts"])


def _bump_counter(where: str | storage.Location, job: VAEGANJob) -> None:
    storage.atomic_write_bytes(job_dir(where, job) / COUNTER,
                               json.dumps({"fresh_starts": train_count(where, job) + 1}).encode())


def class_rows(labels: torch.Tensor, cls: Optional[int], limit: Optional[int], seed: int) -> torch.Tensor:
    """Row numbers of class `cls` (all rows when None); a seeded random `limit` of them if given."""
    rows = torch.arange(len(labels)) if cls is None else torch.nonzero(labels == cls).flatten()
    if limit is not None and limit < len(rows):
        g = torch.Generator().manual_seed(seed)
        rows = rows[torch.randperm(len(rows), generator=g)[:limit]].sort().values
    return rows


def load_job_data(job: VAEGANJob):
    """(dataset, uint8 train images [N,C,H,W]) of the job's class, capped by train_size."""
    spec = job.dataset_spec
    ds = load_dataset(spec.name, **spec.options)
    return ds, ds.train.x[class_rows(ds.train.y, job.cls, job.train_size, job.seed)]


def vaegan_config(job: VAEGANJob, in_shape: tuple[int, int, int]) -> VAEGANConfig:
    """The paper's settings for the data set, the data's image shape, then the job's overrides."""
    return VAEGANConfig.for_dataset(job.dataset["name"], in_shape, job.cls, **{**job.vaegan, "lam": job.lam})


EpochHook = Callable[[int, dict[str, float], dict[str, Any]], None]


def fit_job(job: VAEGANJob, where: str | storage.Location, *, device: Optional[torch.device] = None,
            state: Optional[dict[str, Any]] = None, on_epoch: Optional[EpochHook] = None,
            keep_partial: bool = False) -> str:
    """Train the job's VAE-GAN (resuming from a training `state` if given) and store it.

    on_epoch(epoch, metrics, state) runs after every epoch with the full training state (what a
    resume needs). keep_partial: also keep the last epoch's state in storage and resume from it,
    so an actor killed mid-training goes on where it stopped. Counts fresh starts in storage.
    A model whose reconstructions collapsed to one image (raysweep.vaegan.collapse) is retrained
    with the next attempt's seed, up to cfg.restarts times; the checkpoint's metrics record the
    attempts, the seed used and the reconstruction diversity. Returns the final checkpoint's location.
    """
    device = device or default_device()
    ds, images = load_job_data(job)
    cfg = vaegan_config(job, ds.image_shape)
    schedule(cfg, len(images), job.describe())  # too few images for the steps: a UserError before training
    partial = job_dir(where, job) / PARTIAL
    if keep_partial and state is None:
        saved = load_training_state(partial)
        state = None if saved is None else saved[0]
    if state is None:
        _bump_counter(where, job)
    # A resumed state names the attempt it belongs to by its seed (older states: attempt 0).
    attempt = 0 if state is None else attempt_of(job.seed, state.get("seed", job.seed))
    while True:
        seed = attempt_seed(job.seed, attempt)
        model, metrics = _train_attempt(job, where, images, cfg, seed, device, state, on_epoch,
                                        partial if keep_partial else None)
        diversity = reconstruction_diversity(model, images, seed=job.seed)
        if not collapsed(diversity) or attempt >= cfg.restarts:
            break
        print(f"raysweep: VAE-GAN {job.key()} collapsed (reconstruction diversity {diversity:.3f} < "
              f"{MIN_DIVERSITY}); retraining with seed {attempt_seed(job.seed, attempt + 1)} "
              f"(attempt {attempt + 2} of {cfg.restarts + 1})", flush=True)
        attempt, state = attempt + 1, None
    metrics = {**metrics, "attempts": float(attempt + 1), "diversity": diversity, "seed_used": float(seed)}
    return save_checkpoint(job_dir(where, job) / FINAL, model, cfg, data_hash=ds.data_hash, metrics=metrics)


def _train_attempt(job: VAEGANJob, where, images, cfg: VAEGANConfig, seed: int, device, state,
                   on_epoch: Optional[EpochHook], partial: Optional[storage.Location]):
    """One training run of the job with `seed` (resuming `state`), progress and (to `partial`, if
    given) partial states written per epoch; the states carry the seed, so a resume continues the
    same attempt. Progress is written within epochs too (PROGRESS_EVERY_S)."""
    started = time.time()
    start = 0 if state is None else int(state["next_epoch"])
    sched = schedule(cfg, len(images))
    first_step = min(start * sched.steps_per_epoch, sched.steps)
    last_write = [started]

    def step_s(done: int) -> Optional[float]:
        return (time.time() - started) / (done - first_step) if done > first_step else None

    def on_step(done: int) -> None:
        if time.time() - last_write[0] >= PROGRESS_EVERY_S:
            write_progress(where, job, sched, done, step_s(done))
            last_write[0] = time.time()

    def hook(epoch: int, metrics: dict[str, float], st: dict[str, Any]) -> None:
        st = {**st, "seed": seed}
        if partial is not None:
            save_training_state(partial, st, cfg, seed)
        done = min((epoch + 1) * sched.steps_per_epoch, sched.steps)
        write_progress(where, job, sched, done, step_s(done))
        last_write[0] = time.time()
        if on_epoch is not None:
            on_epoch(epoch, metrics, st)

    write_progress(where, job, sched, first_step, None)
    return train_vaegan(images, cfg, seed=seed, device=device, on_epoch=hook, start_epoch=start, state=state,
                        on_step=on_step)


def write_progress(where: str | storage.Location, job: VAEGANJob, sched: Schedule, steps_done: int,
                   step_s: Optional[float]) -> None:
    """progress.json beside the checkpoint: steps done of steps, epochs (lr-decay periods of the
    schedule) done of epochs, and seconds per step, what the sweep driver's progress line reads
    while the actors train (a few bytes, every PROGRESS_EVERY_S within an epoch and after each)."""
    storage.atomic_write_bytes(job_dir(where, job) / PROGRESS, json.dumps(
        {"steps_done": steps_done, "steps": sched.steps, "epochs_done": sched.epochs if steps_done >= sched.steps else steps_done // sched.steps_per_epoch,
         "epochs": sched.epochs, "step_s": step_s, "updated": time.time()}).encode())


def read_progress(where: str | storage.Location, job: VAEGANJob) -> Optional[dict[str, Any]]:
    data = storage.read_bytes(job_dir(where, job) / PROGRESS)
    return None if data is None else json.loads(data)


def load_final(where: str | storage.Location, job: VAEGANJob):
    """(model, CheckpointRecord) of the job's finished VAE-GAN on CPU, or None if not trained yet."""
    final = job_dir(where, job) / FINAL
    return load_checkpoint(final) if storage.exists(final) else None


def is_trained(where: str | storage.Location, job: VAEGANJob) -> bool:
    return storage.exists(job_dir(where, job) / FINAL)
