"""Clean and robust accuracy over all attacks of a trial, the numbers AutoAttack and RobustBench
report: per test image, robust only if it is classified correctly and no attack (no restart)
broke it. Per attack, `<attack>.robust_acc` comes with the attack's metrics
(raysweep.attacks.records); this adds the trial's `clean_acc` and `robust_acc_worst`.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from raysweep.attacks.records import robust_samples
from raysweep.data.batch import Split


def worst_case(model: torch.nn.Module, test: Split, records: dict[str, np.ndarray], attack: np.ndarray,
               device: torch.device) -> dict[str, float]:
    """{"clean_acc", "robust_acc_worst"} over the test rows every attack attacked. `records` holds
    the rows of all attacks, `attack` each row's attack label. Clean accuracy is the model's on the
    real images (a learned attack's own `clean_pred` is on its reconstruction)."""
    keys = np.unique(attack)
    if keys.size == 0:
        return {}
    per = [{c: v[attack == k] for c, v in records.items()} for k in keys]
    common = functools.reduce(np.intersect1d, [np.unique(r["sample"]) for r in per])
    if common.size == 0:
        return {"clean_acc": float("nan"), "robust_acc_worst": float("nan")}
    batch = test.batch(torch.as_tensor(common), device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        correct = (model(batch.x).argmax(1) == batch.y).cpu().numpy()
    model.train(was_training)
    robust = functools.reduce(np.intersect1d, [robust_samples(r) for r in per])
    return {"clean_acc": float(correct.mean()), "robust_acc_worst": float((correct & np.isin(common, robust)).mean())}
