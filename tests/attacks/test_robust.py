"""Clean and robust accuracy (the numbers AutoAttack and RobustBench report), known answers and
the controls that could make them wrong: a misclassified or invalid sample is never robust, the
worst case over attacks is per image (not the minimum of per-attack rates), and the examples
table never counts a misclassified sample as a success."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from raysweep.attacks.records import compute_metrics, robust_samples
from raysweep.attacks.robust import worst_case
from raysweep.data.batch import Split


def records(samples, success, correct=None, valid=None, clean_ok=None, restarts=1):
    """Rows for `samples` x `restarts`; per-row flags given flat (restart-major)."""
    n = len(samples) * restarts
    sample = np.tile(np.asarray(samples), restarts)
    label = np.zeros(n, np.int64)
    clean_ok = np.ones(n, bool) if clean_ok is None else np.asarray(clean_ok, bool)
    return {"sample": sample, "restart": np.repeat(np.arange(restarts), len(samples)), "label": label,
            "clean_pred": np.where(clean_ok, 0, 1), "adv_pred": np.where(np.asarray(success), 1, 0),
            "correct": np.ones(n, bool) if correct is None else np.asarray(correct, bool),
            "valid": np.ones(n, bool) if valid is None else np.asarray(valid, bool),
            "success": np.asarray(success, bool), "linf": np.zeros(n), "l2": np.zeros(n), "l1": np.zeros(n)}


def test_robust_samples_known_answer():
    # 4 samples x 2 restarts: 0 broken in restart 1 only, 1 never broken, 2 misclassified, 3 invalid
    rec = records([0, 1, 2, 3], success=[0, 0, 0, 0, 1, 0, 0, 0], clean_ok=[1, 1, 0, 1] * 2,
                  valid=[1, 1, 1, 0] * 2, restarts=2)
    assert robust_samples(rec).tolist() == [1]
    m = compute_metrics(rec)
    assert m["robust_acc"] == pytest.approx(0.25) and m["clean_acc"] == pytest.approx(0.75)


def test_robust_accuracy_never_rises_by_excluding_samples():
    """Control: marking samples invalid (an attack that cannot run on them) must not make them robust."""
    all_valid = compute_metrics(records([0, 1, 2, 3], success=[1, 1, 0, 0]))
    two_invalid = compute_metrics(records([0, 1, 2, 3], success=[0, 0, 0, 0], valid=[0, 0, 1, 1]))
    assert two_invalid["robust_acc"] == all_valid["robust_acc"] == pytest.approx(0.5)


class Fixed(torch.nn.Module):
    """Predicts class 0 for every image whose first pixel is below 0.5, else class 1."""

    def forward(self, x):
        p = (x[:, 0, 0, 0] >= 0.5).float()
        return torch.stack([1 - p, p], dim=1)


def test_worst_case_is_per_image_over_attacks():
    # 6 test images, labels 0; image 5 is bright (the model says 1: misclassified)
    images = torch.zeros(6, 1, 2, 2, dtype=torch.uint8)
    images[5] = 255
    test = Split(images, torch.zeros(6, dtype=torch.long))
    a = records([0, 1, 2, 3, 4, 5], success=[1, 0, 0, 0, 0, 0])          # A breaks image 0
    b = records([0, 1, 2, 3], success=[0, 1, 0, 0])                      # B breaks image 1, attacks 4 only
    cols = {k: np.concatenate([a[k], b[k]]) for k in a}
    attack = np.array(["A"] * 6 + ["B"] * 4)
    out = worst_case(Fixed(), test, cols, attack, torch.device("cpu"))
    # common images 0-3, all classified correctly; robust to both: 2 and 3
    assert out == {"clean_acc": pytest.approx(1.0), "robust_acc_worst": pytest.approx(0.5)}
    # per-attack rates alone (A 4/6 robust... B 3/4) would never give the per-image 0.5
    assert min(compute_metrics(a)["robust_acc"], compute_metrics(b)["robust_acc"]) > 0.5


def test_worst_case_clean_accuracy_is_the_models_on_the_real_image():
    """A learned attack's clean_pred is on its reconstruction; the trial's clean_acc reads the image."""
    images = torch.zeros(2, 1, 2, 2, dtype=torch.uint8)
    images[1] = 255
    test = Split(images, torch.zeros(2, dtype=torch.long))
    rec = records([0, 1], success=[0, 0])  # the records claim both are correct
    out = worst_case(Fixed(), test, rec, np.array(["A", "A"]), torch.device("cpu"))
    assert out["clean_acc"] == pytest.approx(0.5) and out["robust_acc_worst"] == pytest.approx(0.5)


def test_examples_table_success_is_the_papers():
    from raysweep.config.schema import DatasetSpec, GridSpec, StrategySpec, SweepSpec
    from raysweep.results.rows import ok_tables
    from raysweep.results.schema import trial_schema
    from raysweep.resolve.validate import validate_and_resolve

    spec = SweepSpec(name="t", dataset=DatasetSpec(name="fonts"), grid=GridSpec(n=[10], seed=[1]),
                     strategies=[StrategySpec(name="normal")])
    cfg = validate_and_resolve(spec, "test", with_data=False)[1][0]

    rec = records([0, 1, 2], success=[1, 1, 1], clean_ok=[1, 0, 1], correct=[1, 0, 1], valid=[1, 1, 0])
    rec.update({k: np.zeros(3) for k in ("first_success_iter", "linf", "l2", "l1", "latent_norm", "loss", "real_l2")})
    rec["attack"] = np.array(["linf"] * 3, dtype=object)
    _, examples = ok_tables(cfg, {"test_error": 0.1}, rec, trial_schema(spec))
    assert examples.column("success").to_pylist() == [True, False, False]


def test_every_column_is_documented_in_the_schema():
    from raysweep.commands.tables import describe_columns
    from raysweep.results import schema as S

    lines = describe_columns({"trials": S.TRIAL_BASE, "examples": S.EXAMPLE_SCHEMA, "epochs": S.EPOCH_SCHEMA,
                              "manifolds": S.MANIFOLD_SCHEMA})
    assert len(lines) == len(S.TRIAL_BASE) + len(S.EXAMPLE_SCHEMA) + len(S.EPOCH_SCHEMA) + len(S.MANIFOLD_SCHEMA)
    assert not [line for line in lines if line.endswith("(undocumented)")]
    assert S.TRIAL_BASE.field("robust_acc_worst").metadata[b"doc"].startswith(b"share of")
