"""The sweep's `manifolds` table: the quality of every learned manifold it uses (issue 17 item 7).

After the manifold actors have their VAE-GANs (trained or loaded) and before the trials, the
sweep driver calls `write_manifold_table`: one row per VAE-GAN job the sweep's strategies,
attacks and distances need (raysweep.vaegan.manifold_quality.job_quality, cached beside each
checkpoint), measured with the sweep's reference classifier, i.e. the normally trained source
model of raysweep.trial.source_model (N = 10k, 20 epochs), and written to
`<storage>/<sweep>/tables/manifolds/<dataset key>.parquet`. No Ray here.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Optional

import torch

from raysweep.config.schema import SweepSpec
from raysweep.device import default_device
from raysweep.results.schema import manifold_table
from raysweep.results.store import TableStore
from raysweep.vaegan.job import VAEGANJob, dataset_key, make_job


def manifold_jobs(dataset, kinds: Iterable[str], options, classes: Iterable[int]
                  ) -> dict[tuple[str, Optional[int]], Optional[VAEGANJob]]:
    """(kind, class) -> the VAE-GAN job serving it (None for "true"), one per class for "class"
    and one class-agnostic job for "data"; lambdas from the spec's table, else the paper's."""
    from raysweep.vaegan.lambda_score import read_lambda_table

    lambdas: dict[Optional[int], float] = {}
    for kind in {"class", "data"} & set(kinds):
        lambdas.update(read_lambda_table(options.lambda_table, kind))  # keys: labels, and None for "data"
    return {(kind, cls): None if kind == "true" else make_job(dataset, cls, options, lambdas)
            for kind in sorted(set(kinds)) for cls in (list(classes) if kind == "class" else [None])}


def write_manifold_table(spec: SweepSpec, kinds: Iterable[str], source: Optional[dict[str, Any]],
                         device: Optional[torch.device] = None) -> list[dict[str, Any]]:
    """Measure (or read back) every learned manifold of `kinds` and write the sweep's table."""
    from raysweep.data import load_dataset
    from raysweep.trial.source_model import SourceJob, load_source
    from raysweep.vaegan.manifold_quality import job_quality

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
