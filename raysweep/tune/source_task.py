"""The transfer source model's training as a Ray task (raysweep.trial.source_model does the rest).

One task with one CPU and the manifolds' GPU share (none on a GPU-less cluster), outside the
trials' placement groups, before Tuner.fit(); trials then load the checkpoint from storage.
"""
from __future__ import annotations

from typing import Any

import ray

from raysweep.resolve import catalog
from raysweep.trial.source_model import SourceJob, fit_source


@ray.remote(max_retries=1)
def _fit(job: dict[str, Any], where: str, plugins: tuple[str, ...]) -> dict[str, Any]:
    catalog.load(plugins)  # the worker registers the spec's data sets (plugins) itself
    return fit_source(SourceJob.from_dict(job), where)


def fit_in_task(gpu: float):
    """fit(job, where, plugins) for raysweep.trial.source_model.ensure_source_model."""
    gpu = gpu if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    task = _fit.options(num_cpus=1, num_gpus=gpu, scheduling_strategy="DEFAULT")
    return lambda job, where, plugins: ray.get(task.remote(job, where, plugins))
