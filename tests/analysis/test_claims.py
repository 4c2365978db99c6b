"""Claims 1-4 (raysweep/analysis/claims.py) on synthetic tables with known answers: for every claim a
positive control (built true: "holds") and negative controls (built false: never "holds"),
including four cases that an earlier, weaker version of the verdicts wrongly passed."""
from __future__ import annotations

import json
import math

import claim_tables as T
import numpy as np
import pandas as pd
import pytest

from raysweep.analysis import claims as C
from raysweep.analysis import load as L
from raysweep.analysis import strength

NS = [250, 500, 1000, 2000, 4000]
SEEDS = [0, 1, 2]


def trials_table(columns, strategy="normal", config=None) -> pd.DataFrame:
    """Normal trials over NS x SEEDS, test error falling with N; columns: name -> f(te, n, seed)."""
    rows = []
    for n in NS:
        for seed in SEEDS:
            te = 0.8 / math.log(n) - 0.05 + 0.01 * seed
            row = {L.TRIAL_ID: f"{strategy}-{n}-{seed}", L.STRATEGY: strategy, L.N: n, L.SEED: seed, L.TEST_ERROR: te}
            row.update({k: f(te, n, seed) for k, f in columns.items()})
            rows.append(row)
    df = pd.DataFrame(rows)
    if config is not None:
        df[L.CONFIG_JSON] = json.dumps({"evaluate": {"attacks": config}})
    return df


def jitter(scale):
    """Deterministic noise per (n, seed), so intervals are not degenerate."""
    return lambda te, n, seed: scale * math.sin(n * 0.37 + seed * 1.7)


def rate(attack):
    return L.success_col(attack)


ON = rate("onmanifold_true")
LINF = rate("linf")


def deciding(result):
    return result.deciding()


# --- claim 3: on-manifold success rises with test error, N controlled ------------------------------
STRATEGIES3 = {"normal": 0.0, "onmanifold_true": -0.05, "adversarial": 0.05}  # test error shifts at a fixed N


def test_claim3_positive_control_holds():
    t = T.table(STRATEGIES3, {ON: T.follows_te(2.0)})
    r = C.claim_onmanifold_generalization(t)
    coef, pearson = deciding(r)
    assert r.verdict == C.HOLDS and coef.value == pytest.approx(2.0, abs=0.1)
    assert coef.interval[0] > 0.5 and pearson.value > 0.95 and "log N" in coef.name
    assert "interval" in coef.threshold and r.falsifier


@pytest.mark.parametrize("column", [T.follows_te(0.2, 0.3), T.flat(0.5), T.follows_te(-2.0, 0.8), T.follows_n()],
                         ids=["weak", "none", "falling", "follows-N-only"])
def test_claim3_negative_controls_do_not_hold(column):
    """Weak (slope 0.2, which the old verdicts passed), none, falling dependence, and success that
    follows N only while on-manifold adversarial training lowers test error (the old verdict held it)."""
    assert C.claim_onmanifold_generalization(T.table(STRATEGIES3, {ON: column})).verdict == C.FAILS


def test_claim3_with_normal_training_only_is_inconclusive():
    """One trial per N and seed: test error is a function of N, N cannot be controlled."""
    r = C.claim_onmanifold_generalization(T.table({"normal": 0.0}, {ON: T.follows_te(2.0)}))
    assert r.verdict == C.INCONCLUSIVE and "N is not controlled" in r.blockers[0]


def test_claim3_too_few_trials_is_not_measured():
    t = trials_table({ON: lambda te, n, s: 2 * te}).head(3)
    assert C.claim_onmanifold_generalization(t).verdict == C.NOT_MEASURED


# --- claim 4: regular success independent of test error -------------------------------------------
def with_adversarial(normal: dict, adversarial: dict, config=None) -> pd.DataFrame:
    """Normal trials, and regular adversarial training's (claim 4's positive control) beside them."""
    return pd.concat([trials_table(normal, config=config), trials_table(adversarial, "adversarial", config=config)],
                     ignore_index=True)


FLAT = {LINF: lambda te, n, s: 0.6 + 0.05 * te + jitter(0.005)(te, n, s), ON: lambda te, n, s: 2 * te}
ROBUST = {LINF: lambda te, n, s: 0.2 + jitter(0.005)(te, n, s), ON: lambda te, n, s: 2 * te}


def test_claim4_positive_control_holds():
    r = C.claim_regular_independent(with_adversarial(FLAT, ROBUST))
    assert r.verdict == C.HOLDS and "success of linf" in r.measure
    band, gap = deciding(r)
    assert -0.25 <= band.interval[0] and band.interval[1] <= 0.25 and gap.value == pytest.approx(1.95, abs=0.1)
    control = next(s for s in r.statistics if "normal - adversarial" in s.name)
    assert control.passed and control.value == pytest.approx(0.4, abs=0.02)


def test_same_weak_dependence_cannot_pass_claims_3_and_4():
    """Both rates rise with slope 0.2 (weak dependence); the old verdicts held both claims."""
    weak = T.follows_te(0.2, 0.5)
    linf = lambda te, n, seed, s: weak(te, n, seed, s) - (0.4 if s == "adversarial" else 0.0)  # noqa: E731
    t = T.table(STRATEGIES3, {LINF: linf, ON: T.follows_te(0.2, 0.3)})
    results = {r.number: r.verdict for r in C.evaluate_claims(t, pd.DataFrame())}
    # neither holds; a check whose interval straddles its bound is inconclusive, not refuted
    assert results["3"] in (C.FAILS, C.INCONCLUSIVE) and results["4"] in (C.FAILS, C.INCONCLUSIVE)
    assert C.FAILS in (results["3"], results["4"])


@pytest.mark.parametrize("slope_", [0.9, -0.9])
def test_claim4_strong_dependence_does_not_hold(slope_):
    t = with_adversarial({LINF: lambda te, n, s: 0.5 + slope_ * te, ON: lambda te, n, s: 2 * te}, ROBUST)
    assert C.claim_regular_independent(t).verdict == C.FAILS


MEAN_NORM = L.mean_norm_col("linf", "linf")


@pytest.mark.parametrize("normal, adversarial, verdict, why", [
    # adversarial training as easy to attack as normal, success 1.0 for both, and the old
    # fallback's 1 - mean ||delta|| / eps flat: it held; the saturated rate cannot move
    ({LINF: lambda te, n, s: 1.0, MEAN_NORM: lambda te, n, s: 0.15, ON: lambda te, n, s: 2 * te},
     {LINF: lambda te, n, s: 1.0, MEAN_NORM: lambda te, n, s: 0.15}, C.NOT_MEASURED, "saturated"),
    (FLAT, FLAT, C.INCONCLUSIVE, "does not tell adversarial from normal"),  # a measure blind to robustness
    (FLAT, None, C.INCONCLUSIVE, "no regularly adversarially trained models"),
    (FLAT, ROBUST, C.HOLDS, ""),  # the positive control
])
def test_claim4_is_decided_only_on_a_measure_that_moves_and_separates(normal, adversarial, verdict, why):
    t = with_adversarial(normal, adversarial) if adversarial else trials_table(normal)
    r = C.claim_regular_independent(t)
    assert r.verdict == verdict and why in " ".join([r.note, *r.blockers])


def test_claim4_ceiling_uses_a_smaller_eps_label():
    config = [{"name": "linf", "params": {}}, {"name": "linf", "label": "linf_e01", "params": {"eps": 0.1}},
              {"name": "onmanifold_true", "params": {}}]
    flat = with_adversarial({LINF: lambda te, n, s: 1.0, rate("linf_e01"): lambda te, n, s: 0.4 + jitter(0.005)(te, n, s),
                             ON: lambda te, n, s: 2 * te}, {LINF: lambda te, n, s: 1.0, rate("linf_e01"): lambda te, n, s: 0.1},
                            config=config)
    r = C.claim_regular_independent(flat)
    assert r.verdict == C.HOLDS and "linf_e01" in r.measure and "eps 0.1" in r.measure
    normal = flat[L.STRATEGY] == "normal"
    rising = flat.assign(**{rate("linf_e01"): np.where(normal, 0.1 + 1.5 * flat[L.TEST_ERROR], 0.0)})
    assert C.claim_regular_independent(rising).verdict == C.FAILS


@pytest.fixture
def fake_apgd(monkeypatch):
    """An `apgd_ce` on linf's threat model, whether or not the registry has APGD yet."""
    family, info = L.attack_family, strength.attack_info
    monkeypatch.setattr(L, "attack_family", lambda name: "regular" if name.startswith("apgd") else family(name))
    monkeypatch.setattr(strength, "attack_info", lambda trials, key: (
        strength.AttackInfo(key, key, "regular", "linf", 0.3) if key.startswith("apgd") else info(trials, key)))


def test_claim4_uses_the_stronger_attack(fake_apgd):
    """The paper's attack flat, APGD finding much more at high test error: the stronger decides."""
    assert C.claim_regular_independent(with_adversarial(FLAT, ROBUST)).verdict == C.HOLDS
    both = with_adversarial({**FLAT, rate("apgd_ce"): lambda te, n, s: 0.6 + 0.9 * te}, {**ROBUST, rate("apgd_ce"): lambda te, n, s: 0.2})
    r = C.claim_regular_independent(both)
    assert r.verdict == C.FAILS and "apgd_ce" in r.measure and "stronger" in r.note


@pytest.mark.parametrize("apgd, verdict", [(0.0, C.HOLDS), (0.05, C.INCONCLUSIVE)])
def test_claim4_gap_check_needs_equal_attacks(fake_apgd, apgd, verdict):
    """APGD raises regular success, nothing raises the on-manifold side: the gap
    compares unequal attacks and cannot make the claim hold (APGD finding nothing more: equal)."""
    raise_by = lambda cols: {**cols, rate("apgd_ce"): lambda te, n, s: cols[LINF](te, n, s) + apgd}  # noqa: E731
    r = C.claim_regular_independent(with_adversarial(raise_by(FLAT), raise_by(ROBUST)))
    assert r.verdict == verdict and (verdict == C.HOLDS or "unequal attacks" in r.blockers[0])


# --- claim 1: regular examples leave the manifold, on-manifold ones do not -------------------------
def examples_table(ratios: dict, distance="true", n=60, l2_scale=1.0) -> pd.DataFrame:
    """Successful examples per attack with dist = ratio * delta_l2 (ratio a number or an array)."""
    rng = np.random.default_rng(0)
    parts = []
    for attack, ratio in ratios.items():
        delta = rng.uniform(1.0, 3.0, n)
        seeds = np.arange(n) % len(SEEDS)
        parts.append(pd.DataFrame({L.ATTACK: attack, L.STRATEGY: "normal", L.SEED: seeds, L.TRIAL_ID: [f"t{s}" for s in seeds],
                                   L.SUCCESS: True, L.CORRECT: True, L.VALID: True, L.DELTA_L2: delta,
                                   L.IMAGE_L2: l2_scale * delta, L.dist_col(distance): np.asarray(ratio) * delta}))
    # failed attempts carry no distance meaning and must be ignored, whatever their values
    parts.append(pd.DataFrame({L.ATTACK: "linf", L.STRATEGY: "normal", L.SEED: 0, L.TRIAL_ID: "t0", L.SUCCESS: False,
                               L.CORRECT: True, L.VALID: True, L.DELTA_L2: 1.0, L.IMAGE_L2: 1.0, L.dist_col(distance): 0.0},
                              index=range(n)))
    return pd.concat(parts, ignore_index=True)


def test_claim1_positive_control_holds_with_the_projection_control():
    r = C.claim_off_manifold(pd.DataFrame(), examples_table({"linf": 0.99, "onmanifold_true": 0.01}))
    names = [s.name for s in deciding(r)]
    assert r.verdict == C.HOLDS and len(names) == 3 and "projection error" in names[2]
    assert deciding(r)[1].value == pytest.approx(0.98)


@pytest.mark.parametrize("regular, onman", [(0.3, 0.01), (0.99, 0.95)])
def test_claim1_negative_controls_do_not_hold(regular, onman):
    assert C.claim_off_manifold(pd.DataFrame(), examples_table({"linf": regular, "onmanifold_true": onman})).verdict == C.FAILS


def test_claim1_without_onmanifold_control_is_not_measured():
    """Only a regular attack's distance (the old verdicts passed it): random noise would pass its
    ratio too."""
    r = C.claim_off_manifold(pd.DataFrame(), examples_table({"linf": 0.99}, distance="knn"))
    assert r.verdict == C.NOT_MEASURED and "no on-manifold control for knn" in r.note


def test_claim1_stuck_projection_does_not_hold():
    """20% of true on-manifold examples measured far away: the distance cannot be trusted."""
    on = np.where(np.arange(60) % 5 == 0, 0.9, 0.01)
    r = C.claim_off_manifold(pd.DataFrame(), examples_table({"linf": 0.99, "onmanifold_true": on}))
    assert r.verdict == C.FAILS and deciding(r)[2].value == pytest.approx(0.2)


def test_claim1_ratio_divides_by_the_real_image_delta():
    """delta_l2 (to the real image) decides, not the record's l2 (to dec(z) for learned attacks)."""
    r = C.claim_off_manifold(pd.DataFrame(), examples_table({"linf": 0.99, "onmanifold_true": 0.01}, l2_scale=0.5))
    assert deciding(r)[0].value == pytest.approx(0.99)


def test_claim1_falls_back_to_trial_medians():
    t = trials_table({L.median_ratio_col("true", "linf"): lambda te, n, s: 0.97 + 0.01 * s,
                      L.median_ratio_col("true", "onmanifold_true"): lambda te, n, s: 0.02 + 0.01 * s,
                      LINF: lambda te, n, s: 1.0})
    assert C.claim_off_manifold(t, pd.DataFrame()).verdict == C.HOLDS


# --- claim 2 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("floor, verdict", [(0.05, C.HOLDS), (0.0, C.FAILS)])
def test_claim2_uses_smallest_mean_over_n(floor, verdict):
    t = trials_table({ON: lambda te, n, s: floor if n == max(NS) else 2 * te})
    r = C.claim_onmanifold_exist(t)
    assert deciding(r)[0].value == pytest.approx(floor) and r.verdict == verdict
    assert len([s for s in r.statistics if "at N=" in s.name]) == len(NS)


def test_missing_columns_are_not_measured():
    t = pd.DataFrame({L.TRIAL_ID: ["a", "b"], L.STRATEGY: ["normal", "normal"], L.N: [250, 500], L.TEST_ERROR: [0.3, 0.2]})
    results = C.evaluate_claims(t, pd.DataFrame())
    assert [r.number for r in results] == ["1", "2", "3", "3b", "4", "5"]
    assert all(r.verdict == C.NOT_MEASURED for r in results) and all(r.falsifier for r in results)


def test_thresholds_are_listed():
    th = C.thresholds()
    assert th["CLAIM3_MIN_SLOPE"] == 0.5 and th["STRENGTH_MAX_GAP"] == 0.02 and len(th) >= 15
    assert th["CLAIM4_MAX_ABS_SLOPE"] < th["CLAIM3_MIN_SLOPE"]  # no slope interval can pass both
