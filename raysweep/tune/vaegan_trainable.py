"""Ray Tune glue for VAE-GAN training: one trial per job (raysweep.vaegan.job), in parallel.

The trial reports the epoch's losses with a checkpoint each epoch and resumes from Tune's latest
checkpoint after a failure; a job already trained in storage reports once and returns.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Optional

import ray
from ray import tune

from raysweep._core import storage
from raysweep.vaegan.checkpoint import load_training_state, save_training_state
from raysweep.vaegan.job import VAEGANJob, fit_job, is_trained, load_job_data, vaegan_config

STATE = "partial.pt"


def trial_resources(cpu: float, gpu: float) -> dict[str, float]:
    """Tune resources; the GPU share is dropped (one warning) on a cluster without GPUs."""
    if gpu > 0 and ray.cluster_resources().get("GPU", 0) <= 0:
        print("raysweep: warning: the cluster has no GPUs; these trials run on CPU")
        gpu = 0.0
    return {"cpu": cpu, "gpu": gpu}  # always name CPU: a GPU-only request gets 0 CPUs


def vaegan_trainable(config: dict[str, Any]) -> None:
    """Tune function trainable: config = {"job": VAEGANJob.to_dict(), "storage": uri}."""
    job, where = VAEGANJob.from_dict(config["job"]), config["storage"]
    if is_trained(where, job):
        tune.report({"done": True, "epoch": -1.0})
        return
    state = None
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            saved = load_training_state(os.path.join(d, STATE))
            state = None if saved is None else saved[0]
    ds, _ = load_job_data(job)
    cfg = vaegan_config(job, ds.image_shape)

    def report(epoch: int, metrics: dict[str, float], st: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as d:
            save_training_state(os.path.join(d, STATE), st, cfg, job.seed)
            tune.report({**metrics, "done": False}, checkpoint=tune.Checkpoint.from_directory(d))

    fit_job(job, where, state=state, on_epoch=report)


def train_vaegans(jobs: list[VAEGANJob], where: str, *, cpu: float = 1.0, gpu: float = 0.0,
                  concurrency: Optional[int] = None, retries: int = 2, name: str = "vaegan-train"):
    """Train several VAE-GANs as parallel Tune trials (one per job); returns the ResultGrid."""
    todo = [j for j in jobs if not is_trained(where, j)]
    if not todo:
        return None
    root = storage.resolve(where)
    tuner = tune.Tuner(
        tune.with_resources(vaegan_trainable, trial_resources(cpu, gpu)),
        param_space={"job": tune.grid_search([j.to_dict() for j in todo]), "storage": root.uri},
        tune_config=tune.TuneConfig(max_concurrent_trials=concurrency),
        run_config=tune.RunConfig(name=name, storage_path=(root / "tune").uri,
                                  failure_config=tune.FailureConfig(max_failures=retries),
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=1), verbose=0),
    )
    return tuner.fit()
