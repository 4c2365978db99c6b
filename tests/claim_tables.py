"""Synthetic trial tables for the claims' controls (tests/test_claims_*.py): every strategy over
N x seeds, with test error and per-trial columns given as functions, so a test states the
dependence it builds in (on test error, on N, on the strategy) and the verdict it must get."""
from __future__ import annotations

import math
from typing import Callable

import pandas as pd

from raysweep.analysis import load as L

NS = (250, 500, 1000, 2000, 4000)
SEEDS = (0, 1, 2)
ON_TRUE, ON_CLASS = L.success_col("onmanifold_true"), L.success_col("onmanifold_class")
LINF = L.success_col("linf")

Column = Callable[[float, int, int, str], float]  # (test error, N, seed, strategy) -> value


def normal_te(n: int, seed: int) -> float:
    return 0.8 / math.log(n) - 0.05 + 0.01 * seed


def wobble(n: int, seed: int, strategy: str = "", scale: float = 0.005) -> float:
    """Deterministic noise per trial, so intervals are not degenerate."""
    return scale * math.sin(n * 0.37 + seed * 1.7 + len(strategy) * 0.9)


def table(strategies: dict[str, float], columns: dict[str, Column], seeds=SEEDS, ns=NS) -> pd.DataFrame:
    """Trials of each strategy (its test-error shift against normal training) over ns x seeds."""
    rows = []
    for strategy, shift in strategies.items():
        for n in ns:
            for seed in seeds:
                te = normal_te(n, seed) + shift + wobble(n, seed, strategy, 0.003)
                row = {L.TRIAL_ID: f"{strategy}-{n}-{seed}", L.STRATEGY: strategy, L.N: n, L.SEED: seed, L.TEST_ERROR: te}
                row.update({k: f(te, n, seed, strategy) for k, f in columns.items()})
                rows.append(row)
    return pd.DataFrame(rows)


def follows_te(slope: float = 2.0, base: float = 0.05) -> Column:
    return lambda te, n, seed, s: base + slope * te + wobble(n, seed, s)


def follows_n(top: float = 0.9) -> Column:
    """Depends on N only, whatever the test error (the negative control for claim 3)."""
    return lambda te, n, seed, s: top - 0.08 * math.log(n) + wobble(n, seed, s)


def flat(level: float) -> Column:
    return lambda te, n, seed, s: level + wobble(n, seed, s)
