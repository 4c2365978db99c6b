"""Which VAE-GAN serves each learned manifold a sweep needs (supplement B.2 and G): one per class
for the class manifold, one class-agnostic model for the data manifold, each with its lambda
from the spec's lambda table (`raysweep tune-lambda`), else the paper's. The manifold actors
(raysweep.tune.actors) train and serve these jobs; the manifold table measures them."""
from __future__ import annotations

from typing import Iterable, Optional

from raysweep.config.schema import DatasetSpec, ManifoldOptions
from raysweep.manifold.lambda_score import read_lambda_table
from raysweep.vaegan.job import VAEGANJob, make_job


def manifold_jobs(dataset: DatasetSpec, kinds: Iterable[str], options: ManifoldOptions, classes: Iterable[int]
                  ) -> dict[tuple[str, Optional[int]], Optional[VAEGANJob]]:
    """(kind, class) -> the VAE-GAN job serving it (None for "true"), one per class for "class"
    and one class-agnostic job for "data"; lambdas from the spec's table, else the paper's."""
    lambdas: dict[Optional[int], float] = {}
    for kind in {"class", "data"} & set(kinds):
        lambdas.update(read_lambda_table(options.lambda_table, kind))  # keys: labels, and None for "data"
    return {(kind, cls): None if kind == "true" else make_job(dataset, cls, options, lambdas)
            for kind in sorted(set(kinds)) for cls in (list(classes) if kind == "class" else [None])}
