"""How far a trial's adversarial examples lie from the manifold (Sec. 3.2, supplement C): each
`evaluate.distances` entry measured on an attack's successful examples, and its summary."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from raysweep.attacks.records import AttackResult
from raysweep.config.schema import DistanceSpec
from raysweep.data import Dataset
from raysweep.data.batch import Batch
from raysweep.manifold.distance import DISTANCES


def measured_pairs(records: dict[str, np.ndarray], limit: int) -> np.ndarray:
    """Row numbers of successful attempts on correctly classified, valid samples (at most limit)."""
    ok = records["success"].astype(bool) & records["correct"].astype(bool) & records["valid"].astype(bool)
    return np.flatnonzero(ok)[:limit]


def measure_distance(spec: DistanceSpec, result: AttackResult, batch: Batch, ds: Dataset, manifolds: dict[str, Any],
                     device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """(record rows, ||x_adv - pi(x_adv)||_2 per row) for one distance spec (Sec. 3.2, supplement C)."""
    rows = measured_pairs(result.records, spec.samples)
    if rows.size == 0:
        return rows, np.zeros(0)
    entry = DISTANCES.get(spec.method)
    fn = entry.factory(**spec.build_params())
    # records are (sample, restart) pairs; Batch.idx maps the sample back to its batch position
    pos = {int(s): i for i, s in enumerate(batch.idx.tolist())}
    col = torch.as_tensor([pos[int(s)] for s in result.records["sample"][rows]])
    restart = torch.as_tensor(result.records["restart"][rows])
    x_adv = result.x_adv[restart.to(result.x_adv.device), col.to(result.x_adv.device)].to(device)  # [M, C, H, W]
    clean = batch.select(col.to(batch.x.device))
    need = entry.needs
    res = fn(x_adv, clean, manifold=manifolds.get(need) if need != "train" else None,
             train_images=ds.train.images_source if need == "train" else None)  # streamed, not all resident
    return rows, res.distance.detach().cpu().double().numpy()


def distance_summary(dist: np.ndarray, delta_l2: np.ndarray) -> dict[str, float]:
    """Summaries of the distances of one measurement, and of ||delta||_2 for the same examples."""
    if dist.size == 0:
        return {"n": 0}
    return {"n": int(dist.size), "mean_dist": float(dist.mean()), "median_dist": float(np.median(dist)),
            "mean_delta_l2": float(delta_l2.mean()),
            "median_ratio": float(np.median(dist / np.maximum(delta_l2, 1e-12)))}
