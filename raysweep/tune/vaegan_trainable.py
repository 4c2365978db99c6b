"""Training one VAE-GAN (supplement B.2) as a resumable job: a Ray Tune trainable and the actors.

A `VAEGANJob` names one model: data set, class (None: the class-agnostic "data" manifold), the
weight lambda of Eq. 7-8, VAEGANConfig overrides and a seed. `fit_job` trains it with
raysweep.manifold.vaegan_train and writes the finished checkpoint to a deterministic place in
storage, `<storage>/manifolds/<dataset key>/<job key>/vaegan.pt`, where the manifold actors
(raysweep.tune.actors) look for it. `vaegan_trainable` is the thin Tune glue around `fit_job`:
one trial per class (or per (class, lambda)), a report with the losses and a checkpoint every
epoch, resume from Tune's checkpoint after a failure. `train_vaegans` runs those trials in
parallel the way the sweep runs classifiers.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

import pyarrow.fs as pafs
import torch

from raysweep.device import default_device
from raysweep.results.store import filesystem

FINAL = "vaegan.pt"
PARTIAL = "partial.pt"  # last finished epoch, so an actor killed mid-training resumes
COUNTER = "train_count.json"  # how often training started from scratch (tests count it)


def _digest(obj: Any, n: int = 10) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def dataset_key(dataset: dict[str, Any]) -> str:
    """Stable short name of a data set spec {name, options}: actor names and storage paths use it."""
    return f"{dataset['name']}-{_digest({'name': dataset['name'], 'options': dataset.get('options', {})})}"


@dataclass(frozen=True)
class VAEGANJob:
    """One VAE-GAN to train. Plain values only, so it survives pickling to any Ray worker."""

    dataset: dict[str, Any]  # {"name": ..., "options": {...}} as in the sweep spec
    cls: Optional[int]  # None: class-agnostic, trained on every class
    lam: float  # lambda of Eq. 7-8
    vaegan: dict[str, Any] = field(default_factory=dict)  # VAEGANConfig overrides (width, epochs)
    seed: int = 0
    train_size: Optional[int] = None  # cap on training images (smoke runs)

    @property
    def kind(self) -> str:
        return "data" if self.cls is None else "class"

    def key(self) -> str:
        who = "all" if self.cls is None else str(self.cls)
        rest = _digest({"vaegan": self.vaegan, "seed": self.seed, "train_size": self.train_size}, 8)
        return f"{self.kind}-{who}-lam{self.lam:.4g}-{rest}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VAEGANJob":
        return cls(**d)


def job_dir(storage: str, job: VAEGANJob) -> str:
    return f"{storage.rstrip('/')}/manifolds/{dataset_key(job.dataset)}/{job.key()}"


# -- bytes in storage (local paths or pyarrow.fs URIs) ------------------------------------------

def read_bytes(path: str) -> Optional[bytes]:
    fs, p = filesystem(path)
    if fs.get_file_info(p).type == pafs.FileType.NotFound:
        return None
    with fs.open_input_stream(p) as f:
        return f.read()


def write_bytes(path: str, data: bytes) -> None:
    """Write to a temporary name, then rename: a reader never sees half a checkpoint."""
    fs, p = filesystem(path)
    parent = p.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
    with fs.open_output_stream(tmp) as f:
        f.write(data)
    fs.move(tmp, p)


def save_torch(path: str, obj: Any) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(path, buf.getvalue())


def load_torch(path: str) -> Optional[Any]:
    data = read_bytes(path)
    return None if data is None else torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def train_count(storage: str, job: VAEGANJob) -> int:
    """How many times this job's training started from scratch (0: never trained here)."""
    data = read_bytes(f"{job_dir(storage, job)}/{COUNTER}")
    return 0 if data is None else int(json.loads(data)["fresh_starts"])


def _bump_counter(storage: str, job: VAEGANJob) -> None:
    write_bytes(f"{job_dir(storage, job)}/{COUNTER}",
                json.dumps({"fresh_starts": train_count(storage, job) + 1}).encode())


# -- the job itself (no Ray) ---------------------------------------------------------------------

def load_job_data(job: VAEGANJob):
    """(dataset, uint8 train images [N,C,H,W]) of the job's class, capped by train_size."""
    from raysweep.data.dataset import load_dataset

    ds = load_dataset(job.dataset["name"], **job.dataset.get("options", {}))
    idx = class_rows(ds.train.y, job.cls, job.train_size, job.seed)
    return ds, ds.train.x[idx]


def class_rows(labels: torch.Tensor, cls: Optional[int], limit: Optional[int], seed: int) -> torch.Tensor:
    """Row numbers of class `cls` (all rows when None); a seeded random `limit` of them if given."""
    rows = torch.arange(len(labels)) if cls is None else torch.nonzero(labels == cls).flatten()
    if limit is not None and limit < len(rows):
        g = torch.Generator().manual_seed(seed)
        rows = rows[torch.randperm(len(rows), generator=g)[:limit]].sort().values
    return rows


def vaegan_config(job: VAEGANJob):
    """The paper's settings for the data set (image shape, epochs), then the job's overrides."""
    from raysweep.manifold.vaegan_train import VAEGANConfig

    return VAEGANConfig.for_dataset(job.dataset["name"], job.cls, **{**job.vaegan, "lam": job.lam})


EpochHook = Callable[[int, dict[str, float], dict[str, Any]], None]


def fit_job(job: VAEGANJob, storage: str, *, device: Optional[torch.device] = None,
            state: Optional[dict[str, Any]] = None, on_epoch: Optional[EpochHook] = None) -> str:
    """Train the job's VAE-GAN (resuming from a training `state` if given) and store it.

    on_epoch(epoch, metrics, state) runs after every epoch with the full training state
    (vaegan_train.training_state, what a resume needs). Counts fresh starts in storage.
    Returns the final checkpoint's path.
    """
    from raysweep.manifold.vaegan_train import save_checkpoint, train_vaegan

    device = device or default_device()
    ds, images = load_job_data(job)
    if state is None:
        _bump_counter(storage, job)
    start = 0 if state is None else int(state["next_epoch"])
    cfg = vaegan_config(job)
    model, metrics = train_vaegan(images, cfg, seed=job.seed, device=device, on_epoch=on_epoch,
                                  start_epoch=start, state=state)
    final = f"{job_dir(storage, job)}/{FINAL}"
    with tempfile.TemporaryDirectory() as tmp:  # save_checkpoint wants a local path; storage may be s3://
        local = save_checkpoint(os.path.join(tmp, FINAL), model, cfg, data_hash=ds.data_hash, metrics=metrics)
        write_bytes(final, local.read_bytes())
    return final


def fit_job_resumable(job: VAEGANJob, storage: str, device: Optional[torch.device] = None) -> str:
    """fit_job that keeps its last epoch in storage, so a killed actor resumes instead of restarting."""
    partial = f"{job_dir(storage, job)}/{PARTIAL}"

    def keep(epoch: int, metrics: dict[str, float], state: dict[str, Any]) -> None:
        save_torch(partial, state)

    return fit_job(job, storage, device=device, state=load_torch(partial), on_epoch=keep)


def load_final(storage: str, job: VAEGANJob):
    """(model, CheckpointRecord) of the job's finished VAE-GAN on CPU, or None if not trained yet."""
    from raysweep.manifold.vaegan_train import load_checkpoint

    data = read_bytes(f"{job_dir(storage, job)}/{FINAL}")
    if data is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, FINAL)
        with open(local, "wb") as f:
            f.write(data)
        return load_checkpoint(local)


def is_trained(storage: str, job: VAEGANJob) -> bool:
    fs, p = filesystem(f"{job_dir(storage, job)}/{FINAL}")
    return fs.get_file_info(p).type != pafs.FileType.NotFound


# -- Ray Tune glue -------------------------------------------------------------------------------

def vaegan_trainable(config: dict[str, Any]) -> None:
    """Tune function trainable: config = {"job": VAEGANJob.to_dict(), "storage": str}.

    Reports the epoch's losses with a checkpoint each epoch; a retried trial resumes from Tune's
    latest checkpoint. A job already trained in storage reports once and returns.
    """
    from ray import tune

    job, storage = VAEGANJob.from_dict(config["job"]), config["storage"]
    if is_trained(storage, job):
        tune.report({"done": True, "epoch": -1.0})
        return
    state = None
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            state = torch.load(os.path.join(d, PARTIAL), map_location="cpu", weights_only=True)

    def report(epoch: int, metrics: dict[str, float], st: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as d:
            torch.save(st, os.path.join(d, PARTIAL))
            tune.report({**metrics, "done": False}, checkpoint=tune.Checkpoint.from_directory(d))

    fit_job(job, storage, state=state, on_epoch=report)


def train_vaegans(jobs: list[VAEGANJob], storage: str, *, cpu: float = 1.0, gpu: float = 0.0,
                  concurrency: Optional[int] = None, retries: int = 2, name: str = "vaegan-train"):
    """Train several VAE-GANs as parallel Tune trials (one per job); returns the ResultGrid."""
    from ray import tune

    from raysweep.tune.lambda_search import trial_resources

    todo = [j for j in jobs if not is_trained(storage, j)]
    if not todo:
        return None
    fs_storage = storage if "://" in storage else os.path.abspath(storage)
    tuner = tune.Tuner(
        tune.with_resources(vaegan_trainable, trial_resources(cpu, gpu)),
        param_space={"job": tune.grid_search([j.to_dict() for j in todo]), "storage": fs_storage},
        tune_config=tune.TuneConfig(max_concurrent_trials=concurrency),
        run_config=tune.RunConfig(name=name, storage_path=f"{fs_storage.rstrip('/')}/tune",
                                  failure_config=tune.FailureConfig(max_failures=retries),
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=1), verbose=0),
    )
    return tuner.fit()
