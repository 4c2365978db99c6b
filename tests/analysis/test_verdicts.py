"""Verdict rows (raysweep/analysis/verdicts.py, analysis/claims.json): which check a row names,
why, and strict JSON; one row per manifold a sweep measured; learned manifolds gated on quality."""
from __future__ import annotations

import json
import math

import claim_tables as T
import numpy as np
import pandas as pd
import pytest

from raysweep.analysis import claims as C
from raysweep.analysis import claims_base as B
from raysweep.analysis import load as L
from raysweep.analysis import manifold_kinds as MK
from raysweep.analysis import verdicts as V


def _result(*checks: B.Statistic, blockers=()) -> B.ClaimResult:
    return B.result("3", "t", list(checks), "f", note="a note", manifold="true", blockers=list(blockers))


PASS = B.check("first", 0.9, (0.8, 1.0), "ci>", 0.5)
FAIL = B.check("second", 0.1, (0.0, 0.2), "ci>", 0.5)
UNDEFINED = B.undefined("third", "interval > 0.5")


@pytest.mark.parametrize("checks, verdict, settles", [
    ((PASS,), C.HOLDS, "first"), ((PASS, FAIL), C.FAILS, "second"), ((PASS, UNDEFINED), C.NOT_MEASURED, "third")])
def test_row_names_the_check_that_settled_the_verdict(checks, verdict, settles):
    row = V.row(_result(*checks))
    assert tuple(row) == V.FIELDS and row["verdict"] == verdict and row["statistic"] == settles
    assert row["manifold"] == "true" and "a note" in row["reason"]
    assert verdict != C.FAILS or "second fails" in row["reason"]


@pytest.mark.parametrize("checks, verdict", [((PASS,), C.INCONCLUSIVE), ((FAIL,), C.INCONCLUSIVE),
                                             ((UNDEFINED,), C.NOT_MEASURED)])
def test_a_blocker_makes_a_decided_verdict_inconclusive_and_says_why(checks, verdict):
    row = V.row(_result(*checks, blockers=["2 seeds"]))
    assert row["verdict"] == verdict
    assert verdict != C.INCONCLUSIVE or row["reason"].startswith("2 seeds")


def test_rows_are_strict_json_without_nan(tmp_path):
    r = _result(B.Statistic("nan", float("nan"), (float("nan"), float("nan")), decides=True))
    path = V.write_json(tmp_path / V.JSON_NAME, V.rows([r]))
    row = json.loads(path.read_text())[0]
    assert row["value"] is None and row["interval"] is None and row["verdict"] == C.NOT_MEASURED


def test_headline_lists_every_row_with_its_manifold():
    rows = [{"claim": "2", "manifold": "true", "verdict": C.HOLDS}, {"claim": "5", "manifold": None, "verdict": C.FAILS}]
    assert V.headline(rows) == "Claims: (2, true) holds, (5) does not hold."


def test_missing_columns_give_one_not_measured_row_per_claim():
    t = pd.DataFrame({"trial_id": ["a", "b"], "strategy": ["normal", "normal"], "n": [250, 500], "test_error": [0.3, 0.2]})
    rows = V.rows(C.evaluate_claims(t, pd.DataFrame()))
    assert [r["claim"] for r in rows] == ["1", "2", "3", "3b", "4", "5"]
    assert all(r["verdict"] == C.NOT_MEASURED and r["manifold"] is None for r in rows)
    assert all(r["value"] is None or math.isfinite(r["value"]) for r in rows)


# --- one verdict per manifold -------------------------------------------------------
def _examples(ratios: dict[tuple[str, str], float], n: int = 60) -> pd.DataFrame:
    """Successful examples per (attack, distance) with dist = ratio * delta_l2."""
    rng = np.random.default_rng(0)
    parts = []
    for (attack, distance), ratio in ratios.items():
        delta, seeds = rng.uniform(1.0, 3.0, n), np.arange(n) % 3
        parts.append(pd.DataFrame({L.ATTACK: attack, L.STRATEGY: "normal", L.SEED: seeds, L.TRIAL_ID: seeds.astype(str),
                                   L.SUCCESS: True, L.CORRECT: True, L.VALID: True, L.DELTA_L2: delta,
                                   L.dist_col(distance): ratio * delta * rng.uniform(0.98, 1.0, n)}))
    return pd.concat(parts, ignore_index=True)


STRATEGIES = {"normal": 0, "onmanifold_true": -0.05, "adversarial": 0.05}  # claim 3 needs test error apart from N
PER_MANIFOLD = {
    "1": lambda: (C.claim_off_manifold, (pd.DataFrame(), _examples(
        {("linf", "true"): 0.99, ("onmanifold_true", "true"): 0.01,
         ("linf", "class"): 0.99, ("onmanifold_class", "class"): 0.95}))),
    "2": lambda: (C.claim_onmanifold_exist, (T.table({"normal": 0}, {T.ON_TRUE: T.flat(0.3), T.ON_CLASS: T.flat(0.0)}),)),
    "3": lambda: (C.claim_onmanifold_generalization,
                  (T.table(STRATEGIES, {T.ON_TRUE: T.follows_te(), T.ON_CLASS: T.flat(0.4)}),)),
    "3b": lambda: (C.claim_onmanifold_training,
                   (T.table({"normal": 0, "onmanifold_true": -0.05, "onmanifold_class": 0.02}, {}),)),
}


@pytest.mark.parametrize("claim", list(PER_MANIFOLD))
def test_each_manifold_gets_its_own_verdict(claim):
    """The true manifold built to hold (positive control), the learned class manifold built to
    fail (negative control): neither verdict leaks into the other's row."""
    fn, tables = PER_MANIFOLD[claim]()
    true, learned = fn(*tables, manifold=MK.TRUE), fn(*tables, manifold=MK.LEARNED_CLASS)
    assert (true.manifold, true.verdict) == (MK.TRUE, C.HOLDS)
    assert (learned.manifold, learned.verdict) == (MK.LEARNED_CLASS, C.FAILS)
    assert fn(*tables).manifold == MK.TRUE  # without a manifold: the exact one first


def test_evaluate_claims_lists_every_measured_manifold_in_the_headline():
    t = T.table({"normal": 0, "onmanifold_true": -0.05, "onmanifold_class": 0.02},
                {T.ON_TRUE: T.follows_te(), T.ON_CLASS: T.flat(0.4)})
    rows = V.rows(C.evaluate_claims(t, pd.DataFrame()))
    keys = [(r["claim"], r["manifold"]) for r in rows]
    for claim in ("2", "3", "3b"):
        assert keys.count((claim, MK.TRUE)) == 1 and keys.count((claim, MK.LEARNED_CLASS)) == 1
    assert "(3, true)" in V.headline(rows) and "(3, learned-class)" in V.headline(rows)


# --- learned verdicts gated on manifold quality ------------------------------------
GOOD = {"inside_bound": 0.9, "recon_acc": 0.9, "clean_acc": 1.0, "usable_share": 0.9}


def _quality(kind="class", **worse) -> pd.DataFrame:
    return pd.DataFrame([{"kind": kind, "class": c, **GOOD, **(worse if c == 6 else {}), "below": ""} for c in range(10)])


@pytest.mark.parametrize("quality, on_class, verdict, named", [
    (_quality(), T.follows_te(), C.HOLDS, None),  # positive controls: good manifolds, the statistic decides
    (_quality(), T.flat(0.4), C.FAILS, None),
    (_quality(recon_acc=0.1), T.follows_te(), C.INCONCLUSIVE, "class 6: recon_ratio 0.10 < 0.8"),
    (_quality(recon_acc=0.1), T.flat(0.4), C.INCONCLUSIVE, "class 6: recon_ratio 0.10 < 0.8"),
    (_quality(recon_acc=0.5, clean_acc=0.55), T.follows_te(), C.HOLDS, None),  # a class the classifier reads poorly
    (_quality(usable_share=float("nan")), T.follows_te(), C.INCONCLUSIVE, "usable_share unknown"),
    (_quality(kind="data"), T.follows_te(), C.INCONCLUSIVE, "no quality rows"),  # rows for another kind only
    (None, T.follows_te(), C.INCONCLUSIVE, "no quality rows"),
])
def test_learned_verdicts_are_gated_on_manifold_quality(quality, on_class, verdict, named):
    t = T.table(STRATEGIES, {T.ON_TRUE: T.follows_te(), T.ON_CLASS: on_class})
    rows = {(r["claim"], r["manifold"]): r for r in V.rows(C.evaluate_claims(t, pd.DataFrame(), quality=quality))}
    learned, true = rows[("3", MK.LEARNED_CLASS)], rows[("3", MK.TRUE)]
    assert learned["verdict"] == verdict and true["verdict"] == C.HOLDS  # the true manifold is never gated
    assert named is None or named in learned["reason"]


@pytest.mark.parametrize("interval, verdict", [((0.6, 0.9), C.HOLDS), ((0.1, 0.4), C.FAILS), ((0.3, 0.7), C.INCONCLUSIVE)])
def test_an_interval_that_straddles_the_threshold_is_inconclusive(interval, verdict):
    """Clear of the bound: holds; wholly on the wrong side: refuted; straddling it (2 seeds give
    wide t-intervals): the data cannot tell, and the reason says which interval."""
    stat = B.check("slope", sum(interval) / 2, interval, "ci>", 0.5)
    r = B.result("3", "t", [stat], "f")
    assert r.verdict == verdict
    assert verdict != C.INCONCLUSIVE or "straddles the threshold" in "; ".join(r.blockers)
