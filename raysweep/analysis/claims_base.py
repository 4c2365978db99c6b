"""What every claim verdict is made of (raysweep/analysis/claims.py): statistics with intervals, checks
against the fixed thresholds (raysweep/analysis/thresholds.py), the verdict rule, the falsifier line.

A check passes on its interval where it has one ("the interval lies above 0.5"), so a verdict
needs the evidence, not only the point estimate. One failed check: "does not hold"; an undefined
one (NaN, too few trials, no interval): "not measured"; no deciding check: "not measured". A
verdict that could be read but rests on something that cannot carry it (a learned manifold below
the documented quality, too few seeds, unequal attacks, a measure without its positive control)
is "inconclusive", and its blockers say why (raysweep/analysis/verdicts.py turns results into rows).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from raysweep.analysis import load as L
from raysweep.analysis import stats as S
from raysweep.analysis import thresholds as T

HOLDS = "holds"
FAILS = "does not hold"
INCONCLUSIVE = "inconclusive"
NOT_MEASURED = "not measured"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, NOT_MEASURED)
REFERENCE_STRATEGY = L.NORMAL  # claims (2)-(4) are about normally trained models
EPS = 1e-9


@dataclass
class Statistic:
    """One number behind a claim; `decides` ones are compared with their threshold."""

    name: str
    value: float
    interval: Optional[S.Interval] = None
    threshold: str = ""
    passed: Optional[bool] = None
    decides: bool = False
    blocker: str = ""  # why it could not be read although measured (too few seeds): inconclusive


@dataclass
class ClaimResult:
    number: str  # the paper's claims 1-5 and 3b (Sec. 3.2-3.6)
    title: str
    verdict: str
    statistics: list[Statistic] = field(default_factory=list)
    note: str = ""
    falsifier: str = ""  # what result would have made the claim fail
    measure: str = ""  # which measure decided, when the claim can choose (claim 4 at the ceiling)
    manifold: Optional[str] = None  # "true", "learned-class", "learned-data" (claims 1-3b); None: needs none
    blockers: list[str] = field(default_factory=list)  # why a readable verdict is inconclusive

    def deciding(self) -> list[Statistic]:
        return [s for s in self.statistics if s.decides]

    def block(self, reason: str) -> "ClaimResult":
        """Make a decided verdict (holds / does not hold) inconclusive, saying why."""
        self.blockers.append(reason)
        if self.verdict in (HOLDS, FAILS):
            self.verdict = INCONCLUSIVE
        return self


def _finite(*values: float) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def check(name: str, value: float, interval: Optional[S.Interval], rule: str, bound: float) -> Statistic:
    """A deciding statistic. Rules on the interval: "ci>" (low > bound), "ci<" (high < bound),
    "ci|<=|" (inside [-bound, bound]); on the value: ">=" and "<=". An interval rule fails only
    when the whole interval lies on the wrong side; one that straddles the bound makes the claim
    inconclusive (with 2 seeds a t-interval is wide, and "does not hold" would claim a refutation
    the data do not carry)."""
    text = {"ci>": f"interval > {bound:g}", "ci<": f"interval < {bound:g}",
            "ci|<=|": f"interval inside [-{bound:g}, {bound:g}]", ">=": f">= {bound:g}", "<=": f"<= {bound:g}"}[rule]
    lo, hi = interval if interval is not None else (float("nan"), float("nan"))
    if rule.startswith("ci"):
        if not _finite(lo, hi):
            return Statistic(name, value, interval, text, None, True)
        # strict rules need the interval clear of the bound by more than float round-off
        passed = {"ci>": lo > bound + EPS, "ci<": hi < bound - EPS, "ci|<=|": -bound <= lo and hi <= bound}[rule]
        refuted = {"ci>": hi <= bound, "ci<": lo >= bound, "ci|<=|": lo > bound or hi < -bound}[rule]
        if not passed and not refuted:  # the interval straddles the bound: the data cannot tell
            return Statistic(name, value, interval, text, None, True,
                             blocker=f"{name}: its interval [{lo:.3g}, {hi:.3g}] straddles the threshold ({text})")
    else:
        if not _finite(value):
            return Statistic(name, value, interval, text, None, True)
        passed = value >= bound if rule == ">=" else value <= bound
    return Statistic(name, value, interval, text, bool(passed), True)


def undefined(name: str, threshold: str) -> Statistic:
    """A deciding statistic that could not be computed: the claim is not measured."""
    return Statistic(name, float("nan"), None, threshold, None, True)


def verdict_of(stats: list[Statistic]) -> tuple[str, str]:
    deciding = [s for s in stats if s.decides]
    unknown = [s.name for s in deciding if s.passed is None and not s.blocker]
    if any(s.passed is False for s in deciding):
        return FAILS, ""
    if not deciding:
        return NOT_MEASURED, "no deciding statistic"
    if unknown:
        return NOT_MEASURED, "undefined: " + ", ".join(unknown)
    return HOLDS, ""


def result(number: str, title: str, stats: list[Statistic], falsifier: str, note: str = "",
           measure: str = "", manifold: Optional[str] = None, blockers: Optional[list[str]] = None) -> ClaimResult:
    verdict, why = verdict_of(stats)
    out = ClaimResult(number, title, verdict, stats, "; ".join(t for t in (note, why) if t), falsifier, measure, manifold)
    from_stats = [s.blocker for s in stats if s.decides and s.blocker]
    for reason in dict.fromkeys([*from_stats, *(blockers or [])]):
        out.block(reason)
    return out


def reference(trials: pd.DataFrame) -> pd.DataFrame:
    """The normally trained trials (claims 2-4 are about them)."""
    if L.STRATEGY not in trials.columns:
        return trials.iloc[0:0]
    return trials[trials[L.STRATEGY] == REFERENCE_STRATEGY]


def per_seed(df: pd.DataFrame, estimate) -> pd.Series:
    """estimate(trials of one seed) -> float for every seed; finite values only. A table without
    a seed column is one seed."""
    groups = df.groupby(L.SEED) if L.SEED in df.columns else [(0, df)]
    out = pd.Series({s: float(estimate(g)) for s, g in groups}, dtype=float)
    return out[np.isfinite(out)]


def seed_check(name: str, estimates: pd.Series, rule: str, bound: float) -> Statistic:
    """A deciding statistic from per-seed estimates: their mean, with the t-interval over seeds
    (stats.t_interval); below T.MIN_SEEDS seeds it is blocked (inconclusive), not undefined."""
    k = len(estimates)
    value = float(estimates.mean()) if k else float("nan")
    interval = S.t_interval(estimates.to_numpy(), T.INTERVAL_LEVEL) if k >= T.MIN_SEEDS else None
    stat = check(f"{name} ({k} seed{'s' if k != 1 else ''})", value, interval, rule, bound)
    if k and k < T.MIN_SEEDS:
        stat.blocker = f"{k} seed{'s' if k != 1 else ''} (intervals need at least {T.MIN_SEEDS})"
    return stat


def seed_stat(name: str, estimates: pd.Series) -> Statistic:
    """A non-deciding statistic from per-seed estimates, with its t-interval."""
    value = float(estimates.mean()) if len(estimates) else float("nan")
    return Statistic(name, value, S.t_interval(estimates.to_numpy(), T.INTERVAL_LEVEL))
