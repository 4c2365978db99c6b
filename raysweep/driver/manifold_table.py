"""The sweep's `manifolds` table: the quality of every learned manifold it uses, so the report
can say when a claim rests on manifolds too crude to support it.

After the manifold actors have their VAE-GANs (trained or loaded) and before the trials, the
sweep driver calls `write_manifold_table`: one row per VAE-GAN job the sweep's strategies,
attacks and distances need (raysweep.manifold.quality.job_quality, cached beside each
checkpoint), measured with the sweep's reference classifier, i.e. the normally trained source
model of raysweep.trial.source_model (N = 10k, 20 epochs), and written to
`<storage>/<sweep>/tables/manifolds/<dataset key>.parquet`. No Ray here.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Optional

import torch

from raysweep.config.schema import SweepSpec
from raysweep.data import load_dataset
from raysweep._core.device import default_device
from raysweep.manifold.jobs import manifold_jobs
from raysweep.manifold.quality import job_quality
from raysweep.results.schema import manifold_table
from raysweep.results.store import TableStore
from raysweep.trial.source_model import SourceJob, load_source
from raysweep.vaegan.job import dataset_key


def write_manifold_table(spec: SweepSpec, kinds: Iterable[str], source: Optional[dict[str, Any]],
                         device: Optional[torch.device] = None) -> list[dict[str, Any]]:
    """Measure (or read back) every learned manifold of `kinds` and write the sweep's table."""
    kinds = set(kinds) & {"class", "data"}
    if not kinds or source is None:
        return []
    device = device or default_device()
    ds = load_dataset(spec.dataset.name, **spec.dataset.options)
    reference = load_source(spec.storage, source)
    reference.reference_key = SourceJob.from_dict(source).key()  # cache key of the quality rows
    rows = []
    for job in manifold_jobs(spec.dataset, kinds, spec.manifolds.options, range(ds.n_classes)).values():
        row = job_quality(spec.storage, job, ds, reference, device)
        rows.append({**row, "sweep": spec.name, "dataset": spec.dataset.name,
                     "dataset_options": json.dumps(spec.dataset.options, sort_keys=True)})
    reference.to("cpu")  # the cached reference stays on CPU for the trials of this process
    TableStore(spec.storage, spec.name).write_manifolds(dataset_key(spec.dataset), manifold_table(rows))
    return rows
