"""Claim 4 on each sample's smallest successful eps (raysweep/attacks/min_eps.py):
where an APGD attack measured it, 1 - mean min-eps / eps decides, also when every success rate is
saturated (the case that used to be "not measured"). Positive control: adversarially trained
models measure more robust than normal ones at the same N and seed; negative controls: a measure
that does not separate them, or that follows test error, never holds."""
from __future__ import annotations

import claim_tables as T
import pandas as pd
import pytest

from raysweep.analysis import claims as C
from raysweep.analysis import load as L

APGD, EPS = "apgd_ce", 0.3  # the registered apgd_ce's eps, read from the registry (no config_json)
MIN_EPS = f"{APGD}.mean_min_eps"
STRATEGIES = {"normal": 0.0, "adversarial": 0.05}


def saturated(te, n, seed, s):
    return 1.0  # every normal and adversarial model broken at eps 0.3: the rate saturates


def by_strategy(normal: T.Column, adversarial: T.Column) -> T.Column:
    return lambda te, n, seed, s: (adversarial if s == "adversarial" else normal)(te, n, seed, s)


def min_eps_for(measure: T.Column) -> T.Column:
    """mean min-eps whose measure 1 - mean / eps is `measure`."""
    return lambda te, n, seed, s: EPS * (1 - measure(te, n, seed, s))


ROBUST = min_eps_for(T.flat(0.1))  # adversarial training: 90% of eps on average


def table(normal_measure: T.Column, adversarial: T.Column = ROBUST, strategies=STRATEGIES, on=T.follows_te(2.0)):
    return T.table(strategies, {T.LINF: saturated, L.success_col(APGD): saturated, T.ON_TRUE: on,
                                MIN_EPS: by_strategy(min_eps_for(normal_measure), adversarial)})


def test_positive_control_holds_where_success_is_saturated():
    r = C.claim_regular_independent(table(T.flat(0.7)))
    assert r.verdict == C.HOLDS and "min-eps" in r.measure and APGD in r.measure
    band = r.deciding()[0]
    assert len(r.deciding()) == 1 and -0.25 <= band.interval[0] and band.interval[1] <= 0.25
    control = next(s for s in r.statistics if "normal - adversarial" in s.name)
    assert control.passed and control.value == pytest.approx(0.6, abs=0.02)
    gap = next(s for s in r.statistics if s.name.startswith("slope onmanifold_true"))
    assert not gap.decides and "reported, not deciding" in r.note


def test_the_same_table_without_min_eps_is_not_measured():
    """Control: the success rates alone are saturated, so the measure is what makes it measurable."""
    t = table(T.flat(0.7)).drop(columns=[MIN_EPS])
    r = C.claim_regular_independent(t)
    assert r.verdict == C.NOT_MEASURED and "min_eps_steps" in r.note


@pytest.mark.parametrize("normal, adversarial, verdict, why", [
    (T.flat(0.7), min_eps_for(T.flat(0.7)), C.INCONCLUSIVE, "does not tell adversarial from normal"),
    (T.follows_te(0.9, 0.5), ROBUST, C.FAILS, "fails"),  # vulnerability rises with test error
    (T.follows_te(-0.9, 0.9), ROBUST, C.FAILS, "fails"),  # falls with it
], ids=["blind-to-training", "rises-with-test-error", "falls-with-test-error"])
def test_negative_controls_do_not_hold(normal, adversarial, verdict, why):
    r = C.claim_regular_independent(table(normal, adversarial))
    assert r.verdict == verdict and "min-eps" in r.measure
    assert why in " ".join([r.note, *r.blockers, *(s.name + " fails" for s in r.deciding() if s.passed is False)])


def test_without_adversarial_training_is_inconclusive():
    r = C.claim_regular_independent(table(T.flat(0.7), strategies={"normal": 0.0}))
    assert r.verdict == C.INCONCLUSIVE and "no regularly adversarially trained models" in r.blockers[0]


def test_min_eps_decides_where_present():
    """A flat success rate that could move would hold; the min-eps measure beside it follows test
    error and decides."""
    success = by_strategy(T.flat(0.6), T.flat(0.2))
    t = T.table(STRATEGIES, {T.LINF: success, L.success_col(APGD): success, T.ON_TRUE: T.follows_te(2.0),
                             MIN_EPS: by_strategy(min_eps_for(T.follows_te(0.9, 0.5)), ROBUST)})
    assert C.claim_regular_independent(t).verdict == C.FAILS
    assert C.claim_regular_independent(t.drop(columns=[MIN_EPS])).verdict == C.HOLDS


def test_a_saturated_min_eps_falls_back_to_success():
    """Every normal model robust up to eps (measure at the floor): it cannot move either."""
    r = C.claim_regular_independent(table(T.flat(0.0)))
    assert r.verdict == C.NOT_MEASURED and "min-eps" in r.note and "saturated" in r.note


@pytest.mark.parametrize("slope, claim3, claim4", [(0.1, C.FAILS, C.HOLDS), (1.0, C.HOLDS, C.FAILS)])
def test_one_dependence_cannot_pass_claims_3_and_4(slope, claim3, claim4):
    """The gap check does not decide on min-eps; the band alone still keeps the claims apart: the
    same slope on both sides passes one claim at most."""
    t = table(T.follows_te(slope, 0.3), on=T.follows_te(slope, 0.3))
    t = pd.concat([t, T.table({"onmanifold_true": -0.05}, {T.ON_TRUE: T.follows_te(slope, 0.3)})], ignore_index=True)
    verdicts = {r.number: r.verdict for r in C.evaluate_claims(t, pd.DataFrame())}
    assert (verdicts["3"], verdicts["4"]) == (claim3, claim4)
