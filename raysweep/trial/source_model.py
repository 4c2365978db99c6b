"""The transfer attack's source model (supplement E), trained once per sweep and data set.

Supplement E: transfer attacks use adversarial examples "from a held out model ... trained
normally on 10k training images for 20 epochs". A `SourceJob` names that model: the data set,
the paper's CNN (the standard architecture of Sec. 3.1, whatever architectures the sweep's
targets use), N = 10,000 capped by the training split, 20 epochs, and its own fixed seed (never
one of the grid's seeds, so the source is not a copy of a target). `fit_source` trains it and
writes `<storage>/sources/<dataset key>/<job key>/model.pt` (weights only) with a counter of
how often training ran; the sweep driver (raysweep.tune.source_task) calls it once before the
trials and every trial loads the checkpoint once per worker process (`load_source`). The same
model is the reference classifier of the sweep's manifold quality table
(raysweep.driver.manifold_table). No Ray here.
"""
from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Optional

import torch
from torch import nn

from raysweep._core import storage
from raysweep.config.schema import DatasetSpec, SweepSpec
from raysweep.config.trial_config import TrialConfig
from raysweep.data import load_dataset
from raysweep.data.subset import subset
from raysweep._core.device import default_device
from raysweep.models import build_model
from raysweep.training.loop import TrainConfig, evaluate, train
from raysweep.training.strategies import STRATEGIES  # the package: importing it registers every strategy
from raysweep.training.strategy import StrategyContext
from raysweep.vaegan.job import dataset_key, digest

SOURCE_N = 10_000  # supplement E
SOURCE_EPOCHS = 20
SOURCE_SEED = 7919  # fixed, outside every shipped spec's seed grid
SOURCE_ARCH = "cnn"
MODEL = "model.pt"
META = "meta.json"
COUNTER = "train_count.json"


@dataclass(frozen=True)
class SourceJob:
    """One source model to train. Plain values only (it travels to Ray tasks and trials)."""

    dataset: dict[str, Any]  # DatasetSpec.model_dump()
    arch: str = SOURCE_ARCH
    n: int = SOURCE_N  # capped by the training split when trained
    epochs: int = SOURCE_EPOCHS
    seed: int = SOURCE_SEED

    def key(self) -> str:
        return f"{self.arch}-n{self.n}-e{self.epochs}-s{self.seed}-{digest(asdict(self), 8)}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SourceJob":
        return cls(**d)


def source_job(dataset: DatasetSpec) -> SourceJob:
    return SourceJob(dataset=dataset.model_dump())


def source_dir(where: str | storage.Location, job: SourceJob) -> storage.Location:
    spec = DatasetSpec.model_validate(job.dataset)
    return storage.resolve(where) / "sources" / dataset_key(spec) / job.key()


def train_count(where: str | storage.Location, job: SourceJob) -> int:
    """How many times this source model was trained (tests check it is once per sweep)."""
    data = storage.read_bytes(source_dir(where, job) / COUNTER)
    return 0 if data is None else int(json.loads(data)["trained"])


def is_trained(where: str | storage.Location, job: SourceJob) -> bool:
    return storage.exists(source_dir(where, job) / MODEL)


def fit_source(job: SourceJob, where: str | storage.Location, device: Optional[torch.device] = None) -> dict[str, Any]:
    """Train the source model normally (Sec. 3.1 recipe) unless storage has it; returns its meta."""
    at = source_dir(where, job)
    if storage.exists(at / MODEL):
        return json.loads(storage.read_bytes(at / META) or b"{}")
    device = device or default_device()
    spec = DatasetSpec.model_validate(job.dataset)
    ds = load_dataset(spec.name, **spec.options)
    n = min(job.n, len(ds.train))
    split = ds.train.subset(torch.as_tensor(subset(ds.train.y, n, job.seed)))
    model = build_model(job.arch, ds.image_shape, ds.n_classes, seed=job.seed)
    strategy = STRATEGIES.build("normal", ctx=StrategyContext(device=device))
    result = train(model, split, strategy, TrainConfig(epochs=job.epochs), seed=job.seed, device=device)
    meta = {"job": job.to_dict(), "n_used": n, "train_time_s": result.train_time_s,
            "test_error": evaluate(model, ds.test, device), "data_hash": ds.data_hash,
            "image_shape": list(ds.image_shape), "n_classes": ds.n_classes}
    storage.save_torch(at / MODEL, {k: v.detach().cpu() for k, v in model.state_dict().items()})
    storage.atomic_write_bytes(at / META, json.dumps(meta, sort_keys=True).encode())
    storage.atomic_write_bytes(at / COUNTER, json.dumps({"trained": train_count(where, job) + 1}).encode())
    return meta


@functools.lru_cache(maxsize=4)
def _load(where: str, job_json: str) -> nn.Module:
    job = SourceJob.from_dict(json.loads(job_json))
    at = source_dir(where, job)
    meta = json.loads(storage.read_bytes(at / META) or b"{}")
    if not meta:
        raise FileNotFoundError(f"source model {at.uri} is not trained; the sweep driver trains it first")
    model = build_model(job.arch, tuple(meta["image_shape"]), int(meta["n_classes"]))
    model.load_state_dict(storage.load_torch(at / MODEL))
    return model.eval()


def load_source(where: str, job: dict[str, Any] | SourceJob) -> nn.Module:
    """The trained source model (eval mode, CPU), loaded once per process (Tune reuses workers)."""
    job = job if isinstance(job, SourceJob) else SourceJob.from_dict(job)
    return _load(str(where), json.dumps(job.to_dict(), sort_keys=True))


def ensure_source_model(spec: SweepSpec, trials: Iterable[TrialConfig], fit: Callable[[dict[str, Any], str, tuple[str, ...]], Any],
                        ) -> Optional[dict[str, Any]]:
    """The sweep's source job (a dict, for the trials' context), trained now through `fit(job,
    storage, plugins)` (the driver passes a Ray task) when storage lacks it; None when no trial
    needs it. Needed by transfer attacks and by learned manifolds (the source model is also the
    reference classifier of the `manifolds` quality table)."""
    if not any(t.facts.source_model or t.facts.learned for t in trials):
        return None
    job = source_job(spec.dataset)
    if not is_trained(spec.storage, job):
        fit(job.to_dict(), spec.storage, tuple(spec.plugins))
    return job.to_dict()


def served(where: str, job: Optional[dict[str, Any]]) -> dict[str, nn.Module]:
    """What a sweep trial adds to TrialHooks.manifolds: {"source_model": ...} (none without a job)."""
    return {} if job is None else {"source_model": load_source(where, job)}
