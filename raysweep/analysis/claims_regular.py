"""Claim 4 (Sec. 3.5, Fig. 6): regular robustness is independent of generalization.

Decided on the slope of a regular measure against test error over normally trained trials, per
seed with a t-interval over seeds: inside +-CLAIM4_MAX_ABS_SLOPE, and clearly below the
on-manifold slope of the same trials. Claim 3's threshold lies above the band, so one dependence
can never pass both claims.

The measure must be able to move (issue 27 item 4): a rate saturated at every N (>=
CLAIM4_CEILING or <= CLAIM4_FLOOR) has no slope to speak of, so the success of a smaller-eps label
of the same norm is tried next; Fig. 8's mean ||delta|| / eps no longer decides (with Eq. 19's
random start the start alone puts it near 0.5 whatever the model). And it must reflect
robustness: its positive control is regular adversarial training (Sec. 3.5, Fig. 6), whose models
must measure more robust than normal ones at the same N and seed by CLAIM4_MIN_SEPARATION; without
such models, or without that separation, the verdict is inconclusive.

Regular success is raised to APGD's where APGD finds more (raysweep/analysis/strength.py); the
on-manifold side has no such partner, so when APGD raised anything the gap check compares unequal
attacks and does not decide (issue 27 item 7): a band that passes is then inconclusive.
"""
from __future__ import annotations

from typing import Optional

import pandas as pd

from raysweep.analysis import claims_base as B
from raysweep.analysis import load as L
from raysweep.analysis import stats as S
from raysweep.analysis import strength
from raysweep.analysis import thresholds as T

TITLE4 = "Regular robustness is independent of generalization"
FALSIFIER4 = (f"fails if the regular slope's interval leaves [-{T.CLAIM4_MAX_ABS_SLOPE:g}, {T.CLAIM4_MAX_ABS_SLOPE:g}] "
              f"or the on-manifold minus regular slope's interval reaches {T.CLAIM4_MIN_SLOPE_GAP:g} or below; "
              f"a saturated rate never decides, nor a measure that does not separate adversarial from normal training")
BAND = f"interval inside [-{T.CLAIM4_MAX_ABS_SLOPE:g}, {T.CLAIM4_MAX_ABS_SLOPE:g}]"


def frame(trials: pd.DataFrame, values: dict[str, pd.Series]) -> pd.DataFrame:
    """Test error, N, seed, strategy and the given per-trial values; rows with all values."""
    keep = [c for c in (L.TEST_ERROR, L.N, L.SEED, L.STRATEGY, L.TRIAL_ID) if c in trials.columns]
    df = trials[keep].copy()
    for k, v in values.items():
        df[k] = v
    return df.dropna(subset=[L.TEST_ERROR, *values]).reset_index(drop=True)


def seed_slopes(df: pd.DataFrame, col: str) -> pd.Series:
    """Per seed: the least-squares slope of `col` on test error (scipy's linregress)."""
    return B.per_seed(df, lambda g: S.slope(g[L.TEST_ERROR], g[col]))


def saturated(df: pd.DataFrame, col: str) -> bool:
    """True when the per-N mean is at the ceiling (or the floor) at every N: the rate says nothing."""
    means = df.groupby(L.N)[col].mean() if L.N in df.columns else df[col]
    return bool(len(means)) and (bool((means >= T.CLAIM4_CEILING).all()) or bool((means <= T.CLAIM4_FLOOR).all()))


def _primary(trials: pd.DataFrame) -> tuple[Optional[str], list[strength.AttackInfo]]:
    infos = [i for i in strength.regular_infos(trials) if not i.strong]
    if infos:
        return infos[0].key, infos
    keys = [k for k in L.attacks_in(trials, L.REGULAR) if not L.attack_names(trials).get(k, k).startswith(strength.STRONG_PREFIX)]
    return (keys[0] if keys else None), []


def _candidates(trials: pd.DataFrame, key: str, infos: list[strength.AttackInfo]):
    """(values over every trial, label, note) of each measure in order: the primary attack's
    success (raised to APGD's), then smaller-eps labels of the same norm, largest eps first."""
    values, label, note = strength.stronger_success(trials, key)
    yield values, f"success of {label}", note
    info = next((i for i in infos if i.key == key), None)
    if info is None or info.eps is None or info.norm is None:
        return
    for other in sorted((i for i in infos if i.norm == info.norm and i.eps is not None and i.eps < info.eps - 1e-12),
                        key=lambda i: -i.eps):
        v, lab, n = strength.stronger_success(trials, other.key)
        yield v, f"success of {lab} (eps {other.eps:g}, smaller than {key}'s {info.eps:g})", n


def measure(trials: pd.DataFrame, key: str, infos) -> tuple[Optional[pd.Series], str, list[str]]:
    """The first measure not saturated over normal training: (values, label, notes)."""
    notes: list[str] = []
    for values, label, note in _candidates(trials, key, infos):
        if not saturated(frame(B.reference(trials), {"v": values}), "v"):
            return values, label, notes + ([note] if note else [])
        notes.append(f"{label} is saturated at every N (>= {T.CLAIM4_CEILING:g} or <= {T.CLAIM4_FLOOR:g}): it cannot move")
    notes.append("no measure that can move (add a smaller-eps label of the same attack to the spec)")
    return None, "", notes


def positive_control(trials: pd.DataFrame, values: pd.Series) -> tuple[Optional[B.Statistic], str]:
    """Does the measure tell regular adversarial training from normal training at the same N and
    seed? (separation statistic, blocker text or ""). Higher values are less robust."""
    adversarial = sorted(L.strategies_of_family(trials, L.REGULAR) if L.STRATEGY in trials.columns else [],
                         key=lambda s: (s != L.ADVERSARIAL, s))  # the paper's own first
    if not adversarial:
        return None, "no regularly adversarially trained models: the measure has no positive control"
    df = frame(trials, {"v": values})
    keys = [c for c in (L.N, L.SEED) if c in df.columns]
    mean = lambda s: df[df[L.STRATEGY] == s].groupby(keys)["v"].mean()  # noqa: E731
    gap = (mean(L.NORMAL) - mean(adversarial[0])).dropna().rename("gap").reset_index()
    stat = B.seed_check(f"normal - {adversarial[0]} at the same N and seed", B.per_seed(gap, lambda g: g["gap"].mean()),
                        "ci>", T.CLAIM4_MIN_SEPARATION)
    stat.decides = False  # a validity check of the measure, not of the claim: it blocks, never fails
    if stat.passed:
        return stat, ""
    if stat.passed is None:
        return stat, f"the measure's positive control cannot be read ({stat.blocker or 'no shared N and seed'})"
    return stat, (f"the measure does not tell {adversarial[0]} from normal training (interval of the difference "
                  f"{S.interval_text(stat.interval)} not above {T.CLAIM4_MIN_SEPARATION:g}): it may not reflect robustness")


def _gap(ref: pd.DataFrame, values: pd.Series, unequal: bool) -> Optional[B.Statistic]:
    onman = L.attacks_in(ref, L.ONMANIFOLD)
    both = frame(ref, {"v": values, **({"on": ref[L.success_col(onman[0])]} if onman else {})})
    if not onman or len(both) < T.MIN_TRIALS_FOR_SLOPE:
        return None
    gap = (seed_slopes(both, "on") - seed_slopes(both, "v")).dropna()
    stat = B.seed_check(f"slope {onman[0]} - slope of regular measure", gap, "ci>", T.CLAIM4_MIN_SLOPE_GAP)
    stat.decides = stat.decides and not unequal
    return stat


def claim_regular_independent(trials: pd.DataFrame, seed: int = 0) -> B.ClaimResult:
    """(4) Sec. 3.5, Fig. 6: per-seed slope of a regular measure vs test error over normal
    training, inside a band around 0 and below the on-manifold slope, decided only on a measure
    that can move and separates adversarial from normal training. `seed` is unused."""
    ref = B.reference(trials)
    key, infos = _primary(trials)
    if key is None or not L.has_columns(ref, L.TEST_ERROR, L.N):
        return B.result("4", TITLE4, [], FALSIFIER4, "needs test error and a regular attack's success rate for normal training")
    values, label, notes = measure(trials, key, infos)
    if values is None:
        return B.result("4", TITLE4, [B.undefined(f"slope [{key}]", BAND)], FALSIFIER4, "; ".join(notes))
    df = frame(ref, {"v": values})
    if len(df) < T.MIN_TRIALS_FOR_SLOPE:
        notes.append(f"only {len(df)} normal trials (need {T.MIN_TRIALS_FOR_SLOPE})")
        return B.result("4", TITLE4, [B.undefined(f"slope [{label}]", BAND)], FALSIFIER4, "; ".join(notes), label)
    stats = [B.seed_check(f"slope vs test error of {label} ({len(df)} trials)", seed_slopes(df, "v"), "ci|<=|",
                          T.CLAIM4_MAX_ABS_SLOPE),
             B.Statistic(f"Pearson r [{label}]", S.pearson(df[L.TEST_ERROR], df["v"]))]
    raised = strength.raised_trials(ref, key)
    unequal = (f"unequal attacks: regular success raised to APGD's in {raised} normal trials, on-manifold success from "
               "the paper's attack alone: the gap check is inconclusive") if raised else ""
    gap = _gap(ref, values, bool(unequal))
    stats += [gap] if gap is not None else []
    if gap is None:
        notes.append("no on-manifold slope measured on the same trials: decided on the band alone")
    control, blocker = positive_control(trials, values)
    stats += [control] if control is not None else []
    per_n = df.groupby(L.N)["v"].mean()
    stats.append(B.Statistic(f"spread of the per-N mean over N ({per_n.size} N)", float(per_n.max() - per_n.min())))
    r = B.result("4", TITLE4, stats, FALSIFIER4, "; ".join(notes), label, blockers=[blocker] if blocker else [])
    return r.block(unequal) if unequal and r.verdict == B.HOLDS else r
