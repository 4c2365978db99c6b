"""Claim 5's study tables (raysweep/analysis/n_factors.py) on synthetic trials with known answers:
every strategy gets its own N factor (a strategy at N that matches normal training at N/2 reads
0.5, one at 2N reads 2, normal's own curve reads 1), and the perturbed-half table averages the
epochs table per strategy and N, with the first and last epoch picked out."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from raysweep.analysis import load as L
from raysweep.analysis import n_factors as NF

NS = [250, 500, 1000, 2000, 4000]
SEEDS = [1, 2, 3]


def normal_te(n: float, seed: int) -> float:
    return 0.8 / math.log(n) - 0.05 + 0.004 * seed


def trials(scale: dict[str, float]) -> pd.DataFrame:
    """Each strategy at N has normal training's test error at N * scale (plus per-seed noise)."""
    rows = [{L.TRIAL_ID: f"{s}-{n}-{seed}", L.ARCH: "cnn", L.STRATEGY: s, L.N: n, L.SEED: seed,
             L.TEST_ERROR: normal_te(n * k, seed) + (0.0005 * math.sin(n + seed) if s != "normal" else 0.0)}
            for s, k in {"normal": 1.0, **scale}.items() for n in NS for seed in SEEDS]
    return pd.DataFrame(rows)


def test_each_strategy_gets_its_own_factor_with_an_interval():
    t = NF.factor_table(trials({"helps": 2.0, "costs": 0.5, "same": 1.0})).set_index("strategy")
    assert set(t.index) == {"helps", "costs", "same"}  # normal is the reference, not a row
    assert t.loc["helps", "factor"] == pytest.approx(0.5, rel=0.03)
    assert t.loc["costs", "factor"] == pytest.approx(2.0, rel=0.03)
    assert t.loc["same", "factor"] == pytest.approx(1.0, rel=0.03)
    for name in t.index:  # the interval brackets the estimate and comes from the 3 seeds
        assert t.loc[name, "low"] <= t.loc[name, "factor"] <= t.loc[name, "high"] and t.loc[name, "seeds"] == 3
    assert t.loc["helps", "high"] < 1 < t.loc["costs", "low"]  # the two controls are told apart
    assert "N=1000: 0.50" in t.loc["helps", "per_n"]


def test_without_normal_training_there_is_no_factor():
    t = trials({"helps": 2.0})
    assert NF.factor_table(t[t[L.STRATEGY] != "normal"]).empty


def epochs() -> pd.DataFrame:
    rows = []
    for strategy, moves in (("adversarial", 0.3), ("random_image", 0.0)):
        for seed in SEEDS:
            for epoch in (1, 2, 3):
                rows.append({L.TRIAL_ID: f"{strategy}-{seed}", L.STRATEGY: strategy, L.N: 1000, L.SEED: seed,
                             "epoch": epoch, "adv_success": 0.2 + moves, "adv_start_success": 0.2,
                             "adv_loss": 1.0 + moves + 0.01 * seed, "adv_start_loss": 1.0, "adv_drift_l2": 3 * moves,
                             "adv_delta_l2": 4.0})
    rows.append({L.TRIAL_ID: "normal-1", L.STRATEGY: "normal", L.N: 1000, L.SEED: 1, "epoch": 1,
                 **{c: np.nan for c in ("adv_success", "adv_start_success", "adv_loss", "adv_start_loss",
                                        "adv_drift_l2", "adv_delta_l2")}})
    return pd.DataFrame(rows)


def test_perturbed_table_averages_over_seeds_and_skips_strategies_without_a_perturbed_half():
    p = NF.perturbed_table(epochs())
    assert set(p[L.STRATEGY]) == {"adversarial", "random_image"}
    adv = p[p[L.STRATEGY] == "adversarial"]
    assert adv["adv_loss"].to_numpy() == pytest.approx([1.32] * 3)  # mean of 1.31, 1.32, 1.33
    assert (p[p[L.STRATEGY] == "random_image"]["adv_drift_l2"] == 0).all()
    ends = NF.first_and_last_epoch(p)
    assert sorted(ends["epoch"].unique()) == [1, 3] and len(ends) == 4


def test_markdown_renders_every_row():
    text = NF.markdown(pd.DataFrame({"a": ["x", "y"], "b": [0.12345, 2.0]}))
    assert text.splitlines() == ["| a | b |", "|---|---|", "| x | 0.123 |", "| y | 2.000 |"]


def test_the_figure_draws_from_trials_alone(tmp_path):
    from raysweep.analysis import fig_claim5_controls as F

    (tmp_path / "tables" / "trials").mkdir(parents=True)  # a sweep's folder, with no epochs table
    tables = L.Tables(trials({"helps": 2.0}), pd.DataFrame(), str(tmp_path))
    outcome = F.draw(tables, tmp_path)
    assert outcome.path is not None and outcome.path.stat().st_size > 0
    assert F.draw(L.Tables(trials({})[lambda t: t[L.STRATEGY] != "normal"], pd.DataFrame(), str(tmp_path)),
                  tmp_path).path is None  # nothing to compare against: skipped, with a note
