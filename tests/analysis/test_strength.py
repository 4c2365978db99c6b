"""The attack-strength check (raysweep/analysis/strength.py) on synthetic trial tables: APGD
beside the paper's attack, flagged when it finds more than 2 points more, not flagged otherwise."""
from __future__ import annotations

import pandas as pd
import pytest

from raysweep.analysis import load as L
from raysweep.analysis import strength
from raysweep.analysis import thresholds as T


@pytest.fixture
def fake_apgd(monkeypatch):
    """APGD on linf's threat model (apgd_ce, apgd_t) and on another eps (apgd_e01), whether or not
    the registry has APGD yet; everything else resolves through the real registry."""
    family, info = L.attack_family, strength.attack_info
    eps = {"apgd_ce": 0.3, "apgd_t": 0.3, "apgd_e01": 0.1}
    monkeypatch.setattr(L, "attack_family", lambda name: "regular" if name in eps else family(name))
    monkeypatch.setattr(strength, "attack_info", lambda trials, key: (
        strength.AttackInfo(key, key, "regular", "linf", eps[key]) if key in eps else info(trials, key)))


def table(gaps: list[float], other: str = "apgd_ce") -> pd.DataFrame:
    rows = []
    for i, gap in enumerate(gaps):
        rows.append({L.TRIAL_ID: f"t{i}", L.STRATEGY: "normal", L.N: 250 * (i + 1), L.SEED: 0,
                     L.success_col("linf", "any"): 0.7, L.success_col("linf"): 0.6,
                     L.success_col(other, "any"): 0.7 + gap, L.success_col(other): 0.7 + gap})
    return pd.DataFrame(rows)


def test_apgd_finding_more_is_flagged(fake_apgd):
    checks = strength.strength_check(table([0.0, 0.05, 0.01, 0.2]))
    assert len(checks) == 1 and (checks[0].paper.key, checks[0].strong.key) == ("linf", "apgd_ce")
    assert checks[0].table["flagged"].tolist() == [False, True, False, True]
    text = "\n".join(strength.section(table([0.0, 0.05, 0.01, 0.2])))
    assert "| linf | apgd_ce | linf, 0.3 | 4 | 2 |" in text and "t3" in text and "+0.200" in text


def test_apgd_within_two_points_is_not_flagged(fake_apgd):
    checks = strength.strength_check(table([0.0, T.STRENGTH_MAX_GAP, -0.03, 0.015]))
    assert checks[0].n_flagged == 0
    assert "Flagged trials" not in "\n".join(strength.section(table([0.0, 0.02])))


def test_compares_any_restart_rates():
    """The per-attempt rate averages over restarts; the comparison must not penalise that."""
    t = table([0.0])
    assert strength.compare(t, "linf", "apgd_ce")["gap"].tolist() == [pytest.approx(0.0)]


def test_other_threat_model_is_not_paired(fake_apgd):
    assert strength.strength_check(table([0.5], other="apgd_e01")) == []
    assert "shares no norm and eps" in "\n".join(strength.section(table([0.5], other="apgd_e01")))


def test_without_apgd_the_report_says_not_checked():
    t = pd.DataFrame({L.TRIAL_ID: ["a"], L.success_col("linf"): [0.9]})
    assert strength.strength_check(t) == []
    assert "runs no APGD attack" in "\n".join(strength.section(t))


def test_stronger_success_takes_the_per_trial_max(fake_apgd):
    t = table([0.0, 0.3]).assign(**{L.success_col("apgd_t"): [0.1, 0.95]})
    values, label, note = strength.stronger_success(t, "linf")
    assert values.tolist() == [pytest.approx(0.7), pytest.approx(1.0)]
    assert label == "max(linf, apgd_ce, apgd_t)" and "2 of 2 trials" in note


def test_registered_apgd_is_a_strong_regular_attack_when_present():
    from raysweep.attacks import ATTACKS

    names = [n for n in ATTACKS.names() if n.startswith(strength.STRONG_PREFIX)]
    if not names:
        pytest.skip("no APGD attack registered (apgd_ce is the strength check)")
    t = pd.DataFrame({L.TRIAL_ID: ["a"], L.success_col(names[0]): [0.5]})
    info = strength.attack_info(t, names[0])
    assert info is not None and info.family == L.REGULAR and info.strong and info.norm is not None
