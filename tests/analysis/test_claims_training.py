"""Claims 3b and 5 (raysweep/analysis/claims_training.py) and the statistics under every claim
(raysweep/analysis/stats.py), on synthetic tables with known answers: positive and negative controls."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from raysweep.analysis import claims as C
from raysweep.analysis import load as L
from raysweep.analysis import stats as S

NS = [250, 500, 1000, 2000, 4000]
SEEDS = [0, 1, 2]


def normal_te(n, seed):
    return 0.8 / math.log(n) - 0.05 + 0.004 * seed


def trials(strategy_te: dict, archs=("cnn",)) -> pd.DataFrame:
    """Trials for each strategy with test error f(n, seed, arch)."""
    rows = []
    for arch in archs:
        for strategy, f in strategy_te.items():
            for n in NS:
                for seed in SEEDS:
                    rows.append({L.TRIAL_ID: f"{arch}-{strategy}-{n}-{seed}", L.ARCH: arch, L.STRATEGY: strategy,
                                 L.N: n, L.SEED: seed, L.TEST_ERROR: f(n, seed, arch)})
    return pd.DataFrame(rows)


def normal(n, seed, arch):
    return normal_te(n, seed)


# --- claim 3b --------------------------------------------------------------------------------------
def test_claim3b_positive_control_holds():
    t = trials({"normal": normal, "onmanifold_true": lambda n, s, a: normal_te(n, s) - 0.05 + 0.003 * math.sin(n + s)})
    r = C.claim_onmanifold_training(t)
    assert r.verdict == C.HOLDS
    pooled = r.deciding()[0]
    assert pooled.value == pytest.approx(-0.05, abs=0.005) and pooled.interval[1] < 0
    assert "N <= 1000" in pooled.name and len([s for s in r.statistics if "at N=" in s.name]) == len(NS)


@pytest.mark.parametrize("shift, verdict", [(0.15, C.FAILS), (0.0, C.INCONCLUSIVE)])
def test_claim3b_negative_controls_do_not_hold(shift, verdict):
    """Test error up by 0.15 (refuted; the old verdicts passed it) and no effect at all (the
    interval straddles 0: the data cannot tell, so inconclusive rather than a refutation)."""
    t = trials({"normal": normal, "onmanifold_true": lambda n, s, a: normal_te(n, s) + shift + 0.003 * math.sin(n + s)})
    assert C.claim_onmanifold_training(t).verdict == verdict


def test_claim3b_without_the_strategy_is_not_measured():
    r = C.claim_onmanifold_training(trials({"normal": normal, "adversarial": normal}))
    assert r.verdict == C.NOT_MEASURED and "no on-manifold adversarial training" in r.note


def test_claim3b_learned_manifold_decides_when_no_true_one():
    t = trials({"normal": normal, "onmanifold_class": lambda n, s, a: normal_te(n, s) - 0.02 + 0.001 * s})
    r = C.claim_onmanifold_training(t)
    assert r.verdict == C.HOLDS and "onmanifold_class" in r.deciding()[0].name


# --- claim 5 ---------------------------------------------------------------------------------------
def twice(n, seed, arch):
    """Adversarial training at N reaches normal training's error at N / 2."""
    return normal_te(n / 2, seed)


def test_claim5_positive_control_recovers_a_factor_of_two():
    r = C.claim_sample_complexity(trials({"normal": normal, "adversarial": twice}))
    factor = r.deciding()[0]
    assert r.verdict == C.HOLDS and factor.interval[0] > 1
    assert factor.value == pytest.approx(2.0, rel=0.02)
    per_n = [s for s in r.statistics if "at N=" in s.name]
    assert len(per_n) == len(NS) - 1 and all(s.value == pytest.approx(2.0, rel=0.02) for s in per_n)
    assert "3 dropped" in r.note  # N=250 of each seed needs normal at N=125, unmeasured: a lower bound of 1 says nothing


def test_claim5_bounds_beyond_the_range_count_conservatively():
    """Adversarial training worse than normal at every N: only lower bounds, those above 1 decide."""
    r = C.claim_sample_complexity(trials({"normal": normal, "adversarial": lambda n, s, a: normal_te(n, s) + 0.2}))
    assert r.verdict == C.HOLDS and "counted as bounds" in r.note


def test_claim5_better_adversarial_training_does_not_hold():
    r = C.claim_sample_complexity(trials({"normal": normal, "adversarial": lambda n, s, a: normal_te(n, s) - 0.01}))
    assert r.verdict == C.FAILS and r.deciding()[0].value < 1


def test_claim5_is_per_architecture_never_pooled():
    def by_arch(n, s, a):
        return twice(n, s, a) if a == "cnn" else normal_te(n * 2, s)  # the MLP needs half the data

    r = C.claim_sample_complexity(trials({"normal": normal, "adversarial": by_arch}, archs=("cnn", "mlp")))
    cnn, mlp = r.deciding()
    assert "[cnn]" in cnn.name and "[mlp]" in mlp.name
    assert cnn.passed and not mlp.passed and r.verdict == C.FAILS


def test_claim5_without_adversarial_training_is_not_measured():
    assert C.claim_sample_complexity(trials({"normal": normal})).verdict == C.NOT_MEASURED


# --- statistics ------------------------------------------------------------------------------------
def test_isotonic_fit_pools_violators_and_inverts():
    kx, ky = S.isotonic_decreasing(np.array([0.0, 1.0, 2.0]), np.array([3.0, 1.0, 2.0]))
    assert kx.tolist() == [0.0, 1.5] and ky.tolist() == [3.0, 1.5]
    assert S.invert_decreasing(kx, ky, 2.25) == (pytest.approx(0.75), "inside")
    assert S.invert_decreasing(kx, ky, 4.0)[1] == "above" and S.invert_decreasing(kx, ky, 1.0)[1] == "below"


def test_pearson_spearman_slope_known_values():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert S.pearson(x, -3 * x + 1) == pytest.approx(-1.0) and S.slope(x, -3 * x + 1) == pytest.approx(-3.0)
    assert S.spearman(x, x ** 3) == pytest.approx(1.0) and S.pearson(x, x ** 3) < 1.0
    assert math.isnan(S.pearson(x, np.ones(5))) and math.isnan(S.slope(np.ones(5), x))


def test_t_interval_over_seeds_brackets_the_mean_and_needs_two_seeds():
    a = S.t_interval(np.array([1.0, 2.0, 3.0]), 0.95)
    assert a[0] < 2.0 < a[1] and a[1] - 2.0 == pytest.approx(4.303 * 1.0 / math.sqrt(3), rel=1e-3)
    assert S.t_interval(np.array([2.0, 2.0]), 0.95) == (2.0, 2.0)
    assert all(math.isnan(v) for v in S.t_interval(np.array([1.0, float("nan")]), 0.95))
