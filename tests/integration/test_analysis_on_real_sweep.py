"""Every figure script and the claims on tables written by a real (tiny) FONTS sweep through Ray.

The synthetic-table tests in tests/analysis/test_figures_and_report.py pin the numbers; this one proves the scripts read
what the engine really writes: column names, dtypes, NaN distance columns, several attacks.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from raysweep.analysis import claims as C
from raysweep.analysis import load as L
from raysweep.analysis.report import FIGURES, write_report
from raysweep.data import load_dataset


@pytest.fixture(scope="module")
def real_sweep(ray_local, tmp_path_factory) -> Path:
    from raysweep.tune.sweep_runner import run_sweep

    root = tmp_path_factory.mktemp("real-sweep")
    fonts = {"max_fonts": 4, "train_size": 800, "test_size": 200, "cache_dir": str(root / "cache")}
    load_dataset("fonts", **fonts)  # build the cache once, before the trial workers read it
    spec = {
        "name": "fonts-tiny",
        "dataset": {"name": "fonts", "options": fonts},
        "grid": {"n": [100, 400], "seed": [1, 2], "arch": ["cnn"]},
        "strategies": [{"name": "normal", "resources": {"cpu": 1, "gpu": 0}},
                       {"name": "adversarial", "params": {"iterations": 2}, "resources": {"cpu": 1, "gpu": 0}}],
        # enough training that models do not collapse to one class (then no attack succeeds and
        # claim 1's ratio has too few examples to decide)
        "train": {"epochs": 6, "batch_size": 50},
        "evaluate": {
            "attacks": [{"name": "linf", "samples": 30, "restarts": 1, "params": {"iterations": 10}},
                        {"name": "l2", "samples": 30, "restarts": 1, "params": {"iterations": 10}},
                        {"name": "onmanifold_true", "samples": 30, "restarts": 1, "params": {"iterations": 10}}],
            "distances": [{"method": "true", "attack": "linf", "samples": 10},
                          {"method": "true", "attack": "onmanifold_true", "samples": 40},
                          {"method": "knn", "attack": "linf", "samples": 10, "k": 8}]},
        "storage": str(root / "out"),
        "retries": 0,
    }
    path = root / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    summary = run_sweep(str(path))
    assert (summary.ok, summary.failed) == (8, 0)
    return root / "out" / "fonts-tiny"


@pytest.mark.ray
@pytest.mark.parametrize("draw", FIGURES, ids=lambda d: d.__module__.split(".")[-1])
def test_every_figure_draws_from_a_real_sweep(real_sweep, draw, tmp_path):
    outcome = draw(L.load_tables(real_sweep), tmp_path)
    if draw.__module__.endswith("fig_learned_vs_true"):
        # this sweep trains no VAE-GANs (they would double its time): the figure must say so, not
        # fail; it is drawn from synthetic sweeps in tests/analysis (test_learned_vs_true, test_figures_and_report)
        assert outcome.path is None and "learned on-manifold attack" in outcome.note
        return
    assert outcome.path is not None, outcome.note
    assert outcome.path.stat().st_size > 1000  # a real PNG, not an empty file


@pytest.mark.ray
def test_claims_and_report_from_a_real_sweep(real_sweep, tmp_path):
    tables = L.load_tables(real_sweep)
    results = C.evaluate_claims(tables.trials, tables.examples, seed=0)
    # one row per claim and manifold: true and knn distances, the true on-manifold attack
    assert [(r.number, r.manifold) for r in results][:2] == [("1", "true"), ("1", "knn")]
    assert list(dict.fromkeys(r.number for r in results)) == ["1", "2", "3", "3b", "4", "5"]
    # claim 1 is measured on every real sweep with true distances, and regular examples leave
    # the manifold even for barely trained models
    assert (results[0].manifold, results[0].verdict) == ("true", "holds")
    report = write_report(real_sweep, tmp_path / "report")
    assert "Claims: (1, true) holds" in report.read_text()
