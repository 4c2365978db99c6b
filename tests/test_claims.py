"""The claims statistics on synthetic tables with known answers (analysis/claims.py)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis import claims as C
from analysis import load as L

NS = [250, 500, 1000, 4000]
SEEDS = [0, 1]


def trials_table(success_of_te, strategy="normal", attack="onmanifold_true", te_shift=0.0) -> pd.DataFrame:
    """Trials over NS x SEEDS whose test error falls with N; `attack` success = f(test error)."""
    rows = []
    for n in NS:
        for seed in SEEDS:
            te = 0.8 / math.log(n) + 0.01 * seed + te_shift
            rows.append({L.TRIAL_ID: f"{strategy}-{n}-{seed}", L.STRATEGY: strategy, L.N: n, L.SEED: seed,
                         L.TEST_ERROR: te, L.success_col(attack): success_of_te(te)})
    return pd.DataFrame(rows)


def examples_table(regular_ratio: float, onmanifold_ratio: float, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for attack, ratio in (("linf", regular_ratio), ("onmanifold_true", onmanifold_ratio)):
        delta = rng.uniform(1.0, 3.0, n)
        rows.append(pd.DataFrame({L.ATTACK: attack, L.STRATEGY: "normal", L.SUCCESS: True, L.CORRECT: True,
                                  L.VALID: True, L.DELTA_L2: delta, L.dist_col("true"): ratio * delta}))
    # Failed attempts carry no distance meaning and must be ignored, whatever their values.
    rows.append(pd.DataFrame({L.ATTACK: "linf", L.STRATEGY: "normal", L.SUCCESS: False, L.CORRECT: True,
                              L.VALID: True, L.DELTA_L2: np.ones(n), L.dist_col("true"): np.zeros(n)}))
    return pd.concat(rows, ignore_index=True)


def deciding(result: C.ClaimResult) -> list[C.Statistic]:
    return [s for s in result.statistics if s.decides]


# --- claim 3: correlation -------------------------------------------------------------------------
def test_perfect_correlation_gives_r_one_and_holds():
    trials = trials_table(lambda te: 2.0 * te + 0.1)
    result = C.claim_onmanifold_generalization(trials, seed=0)
    assert result.verdict == C.HOLDS
    r = deciding(result)[0]
    assert r.name.startswith("Pearson r") and r.value == pytest.approx(1.0)
    spearman = next(s for s in result.statistics if s.name.startswith("Spearman"))
    assert spearman.value == pytest.approx(1.0)
    low = deciding(result)[1]
    assert low.value == pytest.approx(1.0) and low.passed


def test_no_correlation_gives_r_zero_and_does_not_hold():
    # Success symmetric around the middle of the test-error range: covariance exactly zero.
    trials = pd.DataFrame({L.STRATEGY: "normal", L.N: [250, 500, 1000, 2000, 4000],
                           L.TEST_ERROR: [0.5, 0.4, 0.3, 0.2, 0.1],
                           L.success_col("onmanifold_true"): [0.3, 0.1, 0.5, 0.1, 0.3]})
    result = C.claim_onmanifold_generalization(trials, seed=0)
    assert abs(deciding(result)[0].value) < 1e-9
    assert result.verdict == C.FAILS


def test_pearson_and_spearman_known_values():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert C.pearson(x, -3 * x + 1) == pytest.approx(-1.0)
    assert C.spearman(x, x ** 3) == pytest.approx(1.0)  # monotone but not linear
    assert C.pearson(x, x ** 3) < 1.0
    assert math.isnan(C.pearson(x, np.ones(5)))  # undefined for a constant variable


def test_bootstrap_is_seeded_and_brackets_r():
    rng = np.random.default_rng(3)
    x = rng.normal(size=30)
    y = x + rng.normal(size=30)
    a, b = C.bootstrap_pearson_ci(x, y, seed=7), C.bootstrap_pearson_ci(x, y, seed=7)
    assert a == b
    assert a[0] < C.pearson(x, y) < a[1]
    assert C.bootstrap_pearson_ci(x, y, seed=8) != a


def test_constant_onmanifold_success_is_not_measured():
    result = C.claim_onmanifold_generalization(trials_table(lambda te: 0.5), seed=0)
    assert result.verdict == C.NOT_MEASURED and "undefined" in result.note


def test_test_error_change_of_onmanifold_training_per_n():
    normal = trials_table(lambda te: te)
    onman = trials_table(lambda te: te, strategy="onmanifold_true", te_shift=-0.05)
    result = C.claim_onmanifold_generalization(pd.concat([normal, onman], ignore_index=True))
    changes = [s for s in result.statistics if s.name.startswith("test error change onmanifold_true")]
    assert len(changes) == len(NS)
    assert all(s.value == pytest.approx(-0.05) for s in changes)
    assert result.verdict == C.HOLDS  # only normal training enters the correlation


# --- claim 4: slope --------------------------------------------------------------------------------
@pytest.mark.parametrize("true_slope, verdict", [(0.1, C.HOLDS), (-0.2, C.HOLDS), (0.9, C.FAILS)])
def test_known_slope_is_recovered(true_slope, verdict):
    trials = trials_table(lambda te: 0.5 + true_slope * te, attack="linf")
    result = C.claim_regular_independent(trials)
    slope = deciding(result)[0]
    assert slope.value == pytest.approx(true_slope)
    assert result.verdict == verdict


def test_saturated_regular_success_holds_with_zero_spread():
    result = C.claim_regular_independent(trials_table(lambda te: 1.0, attack="linf"))
    slope, spread = deciding(result)
    assert slope.value == pytest.approx(0.0) and spread.value == pytest.approx(0.0)
    assert result.verdict == C.HOLDS


# --- claims 1 and 2 --------------------------------------------------------------------------------
@pytest.mark.parametrize("regular, onman, verdict", [(0.99, 0.05, C.HOLDS), (0.3, 0.05, C.FAILS), (0.99, 0.95, C.FAILS)])
def test_off_manifold_medians(regular, onman, verdict):
    result = C.claim_off_manifold(pd.DataFrame(), examples_table(regular, onman))
    ratio, gap = deciding(result)
    assert ratio.value == pytest.approx(regular)
    assert gap.value == pytest.approx(regular - onman)
    assert result.verdict == verdict


def test_off_manifold_falls_back_to_trial_medians():
    trials = trials_table(lambda te: te, attack="linf")
    trials[L.median_ratio_col("knn", "linf")] = np.linspace(0.9, 1.0, len(trials))
    result = C.claim_off_manifold(trials, pd.DataFrame())
    assert deciding(result)[0].value == pytest.approx(0.95)
    assert result.verdict == C.HOLDS  # no on-manifold distance: the gap is not required


@pytest.mark.parametrize("floor, verdict", [(0.05, C.HOLDS), (0.0, C.FAILS)])
def test_onmanifold_exist_uses_smallest_mean_over_n(floor, verdict):
    trials = trials_table(lambda te: te)
    big = trials[L.N] == max(NS)
    trials.loc[big, L.success_col("onmanifold_true")] = floor
    result = C.claim_onmanifold_exist(trials)
    assert deciding(result)[0].value == pytest.approx(floor)
    per_n = [s for s in result.statistics if "at N=" in s.name]
    assert len(per_n) == len(NS)
    assert result.verdict == verdict


# --- missing columns -------------------------------------------------------------------------------
def test_missing_columns_are_not_measured():
    trials = pd.DataFrame({L.TRIAL_ID: ["a", "b"], L.STRATEGY: ["normal", "normal"], L.N: [250, 500],
                           L.TEST_ERROR: [0.3, 0.2]})
    results = C.evaluate_claims(trials, pd.DataFrame())
    assert [r.number for r in results] == [1, 2, 3, 4]
    assert all(r.verdict == C.NOT_MEASURED for r in results)


def test_too_few_trials_are_not_measured():
    trials = trials_table(lambda te: te).head(3)
    assert C.claim_onmanifold_generalization(trials).verdict == C.NOT_MEASURED


def test_thresholds_are_listed():
    th = C.thresholds()
    assert th["CLAIM3_MIN_PEARSON"] == C.CLAIM3_MIN_PEARSON and len(th) >= 7
