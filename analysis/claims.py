"""The paper's four claims as statistics with verdicts (Stutz, Hein, Schiele, CVPR 2019, Sec. 4).

(1) Regular adversarial examples leave the manifold (Sec. 4.1, Fig. 3).
(2) On-manifold adversarial examples exist (Sec. 4.2, Fig. 2).
(3) On-manifold robustness is essentially generalization (Sec. 4.3, Fig. 5).
(4) Regular robustness is independent of generalization (Sec. 4.4, Fig. 6).

Every function is pure over DataFrames laid out as in docs/architecture.md ("Tables"), so tests
feed synthetic tables. Each claim returns statistics; the ones marked `decides` are compared with
the thresholds below and give the verdict: "holds" when all pass, "does not hold" when one fails,
"not measured" when the columns are missing or too few trials exist. Thresholds are fixed here,
before looking at results, and the report prints them; do not loosen them to make a claim hold.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from analysis import load as L

# --- thresholds (the report lists these) ----------------------------------------------------
# (1) median ||x_adv - pi(x_adv)||_2 / ||delta||_2 of regular examples; the paper finds ~1 on FONTS.
CLAIM1_MIN_REGULAR_RATIO = 0.8
# (1) regular median ratio minus on-manifold median ratio (same distance), when both measured.
CLAIM1_MIN_RATIO_GAP = 0.1
# (2) smallest per-N mean on-manifold success rate (normal training) that still says "they exist".
CLAIM2_MIN_SUCCESS_RATE = 0.02
# (3) Pearson r of on-manifold success vs test error (normal training, across N and seeds) ...
CLAIM3_MIN_PEARSON = 0.7
# ... and the lower end of its bootstrap confidence interval must exceed this.
CLAIM3_MIN_CI_LOW = 0.0
# (4) |slope| of regular success vs test error (normal training); on-manifold success has ~1.
CLAIM4_MAX_ABS_SLOPE = 0.25
# (4) max - min over N of the mean regular success rate (normal training).
CLAIM4_MAX_SPREAD = 0.15

BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_LEVEL = 0.95
MIN_TRIALS_FOR_CORRELATION = 4  # fewer points make r meaningless
REFERENCE_STRATEGY = L.NORMAL  # claims (2)-(4) are about normally trained models

HOLDS = "holds"
FAILS = "does not hold"
NOT_MEASURED = "not measured"


@dataclass
class Statistic:
    """One number behind a claim; `decides` ones are compared with their threshold."""

    name: str
    value: float
    threshold: str = ""
    passed: Optional[bool] = None
    decides: bool = False


@dataclass
class ClaimResult:
    number: int
    title: str
    verdict: str
    statistics: list[Statistic] = field(default_factory=list)
    note: str = ""


def thresholds() -> dict[str, float]:
    """The named thresholds, for the report."""
    return {k: v for k, v in globals().items() if k.startswith("CLAIM") and isinstance(v, (int, float))}


# --- small statistics --------------------------------------------------------------------------
def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r; NaN when either variable is constant (r is undefined then)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    xc, yc = x - x.mean(), y - y.mean()
    den = math.sqrt(float((xc * xc).sum() * (yc * yc).sum()))
    return float((xc * yc).sum() / den) if den > 1e-12 else float("nan")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (Pearson on average ranks, so ties are handled)."""
    return pearson(rankdata(x), rankdata(y))


def bootstrap_pearson_ci(x: np.ndarray, y: np.ndarray, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES,
                         level: float = BOOTSTRAP_LEVEL) -> tuple[float, float]:
    """Percentile bootstrap CI of Pearson r, resampling trials (pairs) with replacement, seeded."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(samples, len(x)))
    xs, ys = x[idx], y[idx]  # [samples, n]
    xs = xs - xs.mean(axis=1, keepdims=True)
    ys = ys - ys.mean(axis=1, keepdims=True)
    den = np.sqrt((xs * xs).sum(axis=1) * (ys * ys).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(den > 1e-12, (xs * ys).sum(axis=1) / den, np.nan)
    r = r[np.isfinite(r)]  # resamples that drew one point repeatedly have no r
    if len(r) == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(r, alpha)), float(np.quantile(r, 1.0 - alpha))


def slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y on x; NaN when x is constant."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    xc = x - x.mean()
    den = float((xc * xc).sum())
    return float((xc * (y - y.mean())).sum() / den) if den > 1e-12 else float("nan")


def _check(name: str, value: float, op: str, bound: float) -> Statistic:
    """A deciding statistic: value `op` bound, with op one of >=, <=, >, |<=| (absolute value)."""
    text = f"{op} {bound:g}".replace("|<=|", "|x| <=")
    if not math.isfinite(value):
        return Statistic(name, value, text, None, True)
    passed = {">=": value >= bound, "<=": value <= bound, ">": value > bound, "|<=|": abs(value) <= bound}[op]
    return Statistic(name, value, text, bool(passed), True)


def _verdict(stats: list[Statistic]) -> tuple[str, str]:
    """One failed check decides "does not hold"; an undefined one (NaN) leaves it "not measured"."""
    deciding = [s for s in stats if s.decides]
    unknown = [s.name for s in deciding if s.passed is None]
    if any(s.passed is False for s in deciding):
        return FAILS, ""
    if not deciding or unknown:
        return NOT_MEASURED, ("undefined: " + ", ".join(unknown)) if unknown else "no deciding statistic"
    return HOLDS, ""


def _result(number: int, title: str, stats: list[Statistic], note: str = "") -> ClaimResult:
    verdict, why = _verdict(stats)
    return ClaimResult(number, title, verdict, stats, "; ".join(t for t in (note, why) if t))


def _reference(trials: pd.DataFrame) -> pd.DataFrame:
    if L.STRATEGY not in trials.columns:
        return trials.iloc[0:0]
    return trials[trials[L.STRATEGY] == REFERENCE_STRATEGY]


# --- claim 1 -----------------------------------------------------------------------------------
TITLE1 = "Regular adversarial examples leave the manifold"


def _median_ratio(examples: pd.DataFrame, trials: pd.DataFrame, attack: str, distance: str) -> tuple[float, str]:
    """Median relative distance from the example table, else the trial table's per-trial medians."""
    values = L.distance_values(examples, attack, distance, relative=True)
    if len(values):
        return float(np.median(values)), f"{len(values)} examples"
    col = L.median_ratio_col(distance, attack)
    if L.has_columns(trials, col):
        per_trial = trials[col].dropna()
        return float(per_trial.median()), f"median of {len(per_trial)} per-trial medians"
    return float("nan"), ""


def _distances(examples: pd.DataFrame, trials: pd.DataFrame) -> list[str]:
    from_trials = {c.split(".")[0] for c in trials.columns if c.endswith(".median_ratio")}
    found = L.distances_in(examples) + sorted(from_trials - set(L.distances_in(examples)))
    return sorted(found, key=lambda d: L.DISTANCE_PREFERENCE.index(d) if d in L.DISTANCE_PREFERENCE else 99)


def _attack_keys(examples: pd.DataFrame, trials: pd.DataFrame, distance: str, candidates: tuple[str, ...]) -> list[str]:
    """Attack keys of one kind with distances in the example table or the trial table."""
    keys = set(L.example_attacks_in(examples, trials, candidates)) | set(L.ratio_attacks_in(trials, distance, candidates))
    return L.order_attacks(keys, L.attack_names(trials), candidates)


def claim_off_manifold(trials: pd.DataFrame, examples: pd.DataFrame) -> ClaimResult:
    """(1) median ||x_adv - pi(x_adv)||_2 / ||delta||_2 for regular vs on-manifold examples (Sec. 4.1).

    Uses normally trained models when present; decides on the first regular attack (linf first) and
    the preferred distance (true manifold first), and on the gap to the first on-manifold attack."""
    ex = examples
    if L.STRATEGY in examples.columns and (examples[L.STRATEGY] == REFERENCE_STRATEGY).any():
        ex = examples[examples[L.STRATEGY] == REFERENCE_STRATEGY]
    tr = _reference(trials) if len(_reference(trials)) else trials
    stats: list[Statistic] = []
    primary: Optional[tuple[str, str]] = None  # (distance, attack) of the deciding regular ratio
    onmanifold: dict[str, list[str]] = {}
    for distance in _distances(ex, tr):
        regular = _attack_keys(ex, trials, distance, L.REGULAR_ATTACKS)
        onmanifold[distance] = _attack_keys(ex, trials, distance, L.ONMANIFOLD_ATTACKS)
        for attack in regular + onmanifold[distance]:
            value, source = _median_ratio(ex, tr, attack, distance)
            if not math.isfinite(value):
                continue
            name = f"median dist/||delta|| [{attack}, {distance}] ({source})"
            if primary is None and attack in regular:
                primary = (distance, attack)
                stats.append(_check(name, value, ">=", CLAIM1_MIN_REGULAR_RATIO))
            else:
                stats.append(Statistic(name, value))
    if primary is None:
        return _result(1, TITLE1, stats, "no distance to the manifold measured for a regular attack")
    distance, regular = primary
    reg_value, _ = _median_ratio(ex, tr, regular, distance)
    for attack in onmanifold[distance]:
        on_value, _ = _median_ratio(ex, tr, attack, distance)
        if math.isfinite(on_value):
            stats.append(_check(f"gap {regular} - {attack} [{distance}]", reg_value - on_value, ">=",
                                CLAIM1_MIN_RATIO_GAP))
            break
    return _result(1, TITLE1, stats)


# --- claim 2 -----------------------------------------------------------------------------------
TITLE2 = "On-manifold adversarial examples exist"


def claim_onmanifold_exist(trials: pd.DataFrame) -> ClaimResult:
    """(2) on-manifold success rate per N (mean +- std over seeds, normal training), Sec. 4.2."""
    ref = _reference(trials)
    attacks = L.attacks_in(ref, L.ONMANIFOLD_ATTACKS)
    if not attacks or not L.has_columns(ref, L.N):
        return _result(2, TITLE2, [], "no on-manifold success rate for normal training in the trial table")
    stats: list[Statistic] = []
    for i, attack in enumerate(attacks):
        per_n = L.mean_std_by_n(ref, L.success_col(attack))
        for _, row in per_n.iterrows():
            stats.append(Statistic(f"{attack} success at N={int(row[L.N])} (std {row['std']:.3f}, "
                                   f"seeds: {int(row['count'])})", float(row["mean"])))
        name = f"min over N of mean {attack} success"
        value = float(per_n["mean"].min())
        stats.append(_check(name, value, ">=", CLAIM2_MIN_SUCCESS_RATE) if i == 0 else Statistic(name, value))
    return _result(2, TITLE2, stats)


# --- claim 3 -----------------------------------------------------------------------------------
TITLE3 = "On-manifold robustness is generalization"


def _test_error_changes(trials: pd.DataFrame) -> list[Statistic]:
    """Mean test error of each on-manifold adversarial training minus normal training, per N."""
    if not L.has_columns(trials, L.TEST_ERROR, L.N, L.STRATEGY):
        return []
    means = trials.groupby([L.STRATEGY, L.N])[L.TEST_ERROR].mean()
    if REFERENCE_STRATEGY not in means.index.get_level_values(0):
        return []
    normal = means.loc[REFERENCE_STRATEGY]
    stats = []
    for strategy in L.ONMANIFOLD_STRATEGIES:
        if strategy not in means.index.get_level_values(0):
            continue
        diff = (means.loc[strategy] - normal).dropna()
        for n, d in diff.items():
            stats.append(Statistic(f"test error change {strategy} - normal at N={n}", float(d)))
        if len(diff):
            stats.append(Statistic(f"mean test error change {strategy} - normal", float(diff.mean())))
    return stats


def claim_onmanifold_generalization(trials: pd.DataFrame, seed: int = 0) -> ClaimResult:
    """(3) Pearson/Spearman r of on-manifold success vs test error across N and seeds (normal
    training) with a seeded bootstrap CI, plus on-manifold adversarial training's test-error change
    vs normal per N (Sec. 4.3, Fig. 5)."""
    ref = _reference(trials)
    attacks = L.attacks_in(ref, L.ONMANIFOLD_ATTACKS)
    if not attacks or not L.has_columns(ref, L.TEST_ERROR):
        return _result(3, TITLE3, _test_error_changes(trials), "needs test error and an on-manifold success rate for normal training")
    stats: list[Statistic] = []
    note = ""
    for i, attack in enumerate(attacks):
        df = ref[[L.TEST_ERROR, L.success_col(attack)]].dropna()
        x, y = df[L.TEST_ERROR].to_numpy(float), df[L.success_col(attack)].to_numpy(float)
        if len(df) < MIN_TRIALS_FOR_CORRELATION:
            if i == 0:
                note = f"only {len(df)} normal trials (need {MIN_TRIALS_FOR_CORRELATION}) for {attack}"
                stats.append(Statistic(f"Pearson r [{attack}]", float("nan"), f">= {CLAIM3_MIN_PEARSON:g}", None, True))
            continue
        r, rho = pearson(x, y), spearman(x, y)
        low, high = bootstrap_pearson_ci(x, y, seed=seed)
        if i == 0:
            stats.append(_check(f"Pearson r [{attack}] ({len(df)} trials)", r, ">=", CLAIM3_MIN_PEARSON))
            stats.append(_check(f"Pearson r [{attack}] {BOOTSTRAP_LEVEL:.0%} bootstrap CI low (high {high:.3f})",
                                low, ">", CLAIM3_MIN_CI_LOW))
        else:
            stats.append(Statistic(f"Pearson r [{attack}] ({len(df)} trials, CI {low:.3f}..{high:.3f})", r))
        stats.append(Statistic(f"Spearman r [{attack}]", rho))
        stats.append(Statistic(f"slope success/test error [{attack}]", slope(x, y)))
    return _result(3, TITLE3, stats + _test_error_changes(trials), note)


# --- claim 4 -----------------------------------------------------------------------------------
TITLE4 = "Regular robustness is independent of generalization"


def claim_regular_independent(trials: pd.DataFrame) -> ClaimResult:
    """(4) slope and correlation of regular success vs test error (normal training) and the spread
    of mean regular success across N (Sec. 4.4, Fig. 6)."""
    ref = _reference(trials)
    attacks = L.attacks_in(ref, L.REGULAR_ATTACKS)
    if not attacks or not L.has_columns(ref, L.TEST_ERROR, L.N):
        return _result(4, TITLE4, [], "needs test error and a regular attack's success rate for normal training")
    attack = attacks[0]
    col = L.success_col(attack)
    df = ref[[L.N, L.TEST_ERROR, col]].dropna()
    if len(df) < MIN_TRIALS_FOR_CORRELATION:
        stat = Statistic(f"slope [{attack}]", float("nan"), f"|x| <= {CLAIM4_MAX_ABS_SLOPE:g}", None, True)
        return _result(4, TITLE4, [stat], f"only {len(df)} normal trials (need {MIN_TRIALS_FOR_CORRELATION})")
    x, y = df[L.TEST_ERROR].to_numpy(float), df[col].to_numpy(float)
    per_n = L.mean_std_by_n(ref, col)
    spread = float(per_n["mean"].max() - per_n["mean"].min()) if per_n[L.N].nunique() > 1 else float("nan")
    stats = [
        _check(f"slope success/test error [{attack}] ({len(df)} trials)", slope(x, y), "|<=|", CLAIM4_MAX_ABS_SLOPE),
        _check(f"spread of mean success over N [{attack}] ({per_n[L.N].nunique()} N)", spread, "<=", CLAIM4_MAX_SPREAD),
        Statistic(f"Pearson r [{attack}]", pearson(x, y)),
        Statistic(f"Spearman r [{attack}]", spearman(x, y)),
    ]
    for other in attacks[1:]:
        o = ref[[L.TEST_ERROR, L.success_col(other)]].dropna()
        stats.append(Statistic(f"slope success/test error [{other}]", slope(o[L.TEST_ERROR], o[L.success_col(other)])))
    return _result(4, TITLE4, stats)


def evaluate_claims(trials: pd.DataFrame, examples: pd.DataFrame, seed: int = 0) -> list[ClaimResult]:
    """All four claims, in the paper's order."""
    return [
        claim_off_manifold(trials, examples),
        claim_onmanifold_exist(trials),
        claim_onmanifold_generalization(trials, seed=seed),
        claim_regular_independent(trials),
    ]
