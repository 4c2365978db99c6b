"""Learned vs true manifold (raysweep/analysis/learned_vs_true.py) on synthetic trials: a learned
attack that follows the true one stands in (r near 1); one that stays flat while test error falls
(what the demo's under-trained VAE-GANs did) does not, and the report says so."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from raysweep.analysis import learned_vs_true as LT
from raysweep.analysis import load as L

NS, SEEDS, STRATEGIES = (250, 1000, 4000), (1, 2), ("normal", "adversarial")
TRUE, CLASS = "onmanifold_true", "onmanifold_class"


def trials(learned) -> pd.DataFrame:
    rows = []
    for strategy in STRATEGIES:
        for n in NS:
            for seed in SEEDS:
                te = 0.8 / math.log(n) + 0.01 * seed + (0.02 if strategy == "adversarial" else 0.0)
                true = min(1.0, 0.1 + 1.5 * te)
                wobble = 0.01 * math.sin(n + 3 * seed + len(strategy))
                rows.append({L.TRIAL_ID: f"{strategy}-{n}-{seed}", L.STRATEGY: strategy, L.N: n, L.SEED: seed,
                             L.TEST_ERROR: te, L.success_col(TRUE): true,
                             L.success_col(CLASS): learned(true) + wobble, "attacks_json": None})
    return pd.DataFrame(rows)


def test_a_learned_attack_that_follows_the_true_one_stands_in():
    (c,) = LT.compare(trials(lambda true: 0.8 * true))
    assert (c.learned, c.true, c.manifold) == (CLASS, TRUE, "learned-class")
    assert c.trials == 12 and c.normal_trials == 6
    assert c.r_learned_true > 0.95 and c.r_learned_error > 0.9 and c.r_true_error > 0.99
    assert "| yes |" in "\n".join(LT.section(trials(lambda true: 0.8 * true)))


def test_a_flat_learned_attack_does_not():
    """Negative control: the demo's picture, success about 0.5 whatever the model."""
    (c,) = LT.compare(trials(lambda true: 0.5))
    assert abs(c.r_learned_true) < 0.5 and c.r_true_error > 0.99
    assert "| no |" in "\n".join(LT.section(trials(lambda true: 0.5)))


def test_without_the_true_attack_there_is_nothing_to_compare():
    t = trials(lambda true: true).drop(columns=[L.success_col(TRUE)])
    assert LT.compare(t) == [] and LT.section(t) == []


@pytest.mark.parametrize("learned", [lambda true: 0.8 * true, lambda true: 0.5])
def test_the_figure_draws(learned, tmp_path):
    from raysweep.analysis import fig_learned_vs_true as F

    outcome = F.draw(L.Tables(trials(learned), pd.DataFrame(), str(tmp_path)), tmp_path)
    assert outcome.path is not None and outcome.path.stat().st_size > 0
