"""Train the transfer attack's source model once per sweep, before any trial (supplement E).

The driver calls `ensure_source_model` beside the manifold actors: if a pending trial runs an
attack that needs a source model and storage has none, one Ray task trains it
(raysweep.training.source.fit_source) with the manifolds' resource share (GPU dropped on a
GPU-less cluster), outside the trials' placement groups; trials then load the checkpoint from
storage once per worker process. A re-run finds the checkpoint and trains nothing.
"""
from __future__ import annotations

from typing import Any, Optional

import ray

from raysweep.catalog import needs_source_model
from raysweep.config.resolve import TrialConfig
from raysweep.config.schema import SweepSpec
from raysweep.training.source import fit_source, is_trained, source_job


@ray.remote(max_retries=1)
def _fit(job: dict[str, Any], where: str, plugins: tuple[str, ...]) -> dict[str, Any]:
    from raysweep import catalog
    from raysweep.training.source import SourceJob

    catalog.load(plugins)  # the worker registers the spec's data sets (plugins) itself
    return fit_source(SourceJob.from_dict(job), where)


def ensure_source_model(spec: SweepSpec, trials: list[TrialConfig]) -> Optional[dict[str, Any]]:
    """The source job (as a dict, for the trials' context) if any trial needs one, trained now."""
    if not any(needs_source_model(t) for t in trials):
        return None
    job = source_job(spec.dataset)
    if not is_trained(spec.storage, job):
        gpu = float(spec.manifolds.resources.gpu) if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        task = _fit.options(num_cpus=1, num_gpus=gpu, scheduling_strategy="DEFAULT")
        ray.get(task.remote(job.to_dict(), spec.storage, tuple(spec.plugins)))
    return job.to_dict()
