"""Claim 4 (Sec. 3.5, Fig. 6): regular robustness is independent of generalization.

Decided on the slope of a regular measure against test error over normally trained trials, per
seed with a t-interval over seeds: inside +-CLAIM4_MAX_ABS_SLOPE, and clearly below the
on-manifold slope of the same trials. Claim 3's threshold lies above the band, so one dependence
can never pass both claims.

The measure must be able to move: a success rate saturated at eps has no slope to show. Where a
regular attack measured each sample's smallest successful eps (`min_eps_steps`,
raysweep.attacks.min_eps), the measure is 1 - <attack>.mean_min_eps / eps: the success rate
averaged over every eps' in [0, eps], on the success rate's scale (so the same thresholds) but
without its ceiling at eps. Otherwise it is the success rate; one saturated at every N (>=
CLAIM4_CEILING or <= CLAIM4_FLOOR) has no slope to speak of, so the success of a smaller-eps label
of the same norm is tried next; Fig. 8's mean ||delta|| / eps no longer decides (with Eq. 19's
random start the start alone puts it near 0.5 whatever the model). And it must reflect robustness:
its positive control is regular adversarial training (Sec. 3.5, Fig. 6), whose models must measure
more robust than normal ones at the same N and seed by CLAIM4_MIN_SEPARATION; without such models,
or without that separation, the verdict is inconclusive.

Regular success is raised to APGD's where APGD finds more (raysweep/analysis/strength.py); the
on-manifold side has no such partner, so when APGD raised anything the gap check compares unequal
attacks and does not decide (a gap between unequal attacks says nothing about the claim): a band
that passes is then inconclusive. The min-eps measure is APGD's by construction and has no
on-manifold counterpart: its gap is reported without deciding, and the band decides alone, as when
no on-manifold attack ran (the band lies below claim 3's threshold, so one dependence still cannot
pass claims 3 and 4).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import pandas as pd

from raysweep.analysis import claims_base as B
from raysweep.analysis import load as L
from raysweep.analysis import stats as S
from raysweep.analysis import strength
from raysweep.analysis import thresholds as T
from raysweep.results.names import attack_column

TITLE4 = "Regular robustness is independent of generalization"
FALSIFIER4 = (f"fails if the regular slope's interval leaves [-{T.CLAIM4_MAX_ABS_SLOPE:g}, {T.CLAIM4_MAX_ABS_SLOPE:g}] "
              f"or (on a success rate) the on-manifold minus regular slope's interval reaches {T.CLAIM4_MIN_SLOPE_GAP:g} "
              f"or below; "
              f"a saturated rate never decides, nor a measure that does not separate adversarial from normal training")
BAND = f"interval inside [-{T.CLAIM4_MAX_ABS_SLOPE:g}, {T.CLAIM4_MAX_ABS_SLOPE:g}]"


@dataclass
class Measure:
    """A per-trial regular measure in [0, 1], higher = less robust (a success rate's direction)."""

    values: pd.Series
    label: str
    note: str = ""
    min_eps: bool = False  # 1 - mean min-eps / eps (APGD's, no on-manifold counterpart)


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


def _min_eps_measures(trials: pd.DataFrame) -> Iterator[Measure]:
    """1 - mean min-eps / eps of each regular attack that measured it (module docstring)."""
    for key in L.attacks_in(trials, L.REGULAR):
        col = attack_column(key, "mean_min_eps")  # raysweep.results.schema.MIN_EPS_METRICS
        info = strength.attack_info(trials, key)
        if col in trials.columns and trials[col].notna().any() and info is not None and info.eps:
            yield Measure(1 - trials[col] / info.eps, f"1 - mean min-eps / eps of {key} (eps {info.eps:g}: success "
                          f"averaged over eps in [0, {info.eps:g}])", min_eps=True)


def _candidates(trials: pd.DataFrame, key: Optional[str], infos: list[strength.AttackInfo]) -> Iterator[Measure]:
    """Each measure in order: min-eps where measured, then the primary attack's success (raised to
    APGD's), then smaller-eps labels of the same norm, largest eps first."""
    yield from _min_eps_measures(trials)
    if key is None:
        return
    values, label, note = strength.stronger_success(trials, key)
    yield Measure(values, f"success of {label}", note)
    info = next((i for i in infos if i.key == key), None)
    if info is None or info.eps is None or info.norm is None:
        return
    for other in sorted((i for i in infos if i.norm == info.norm and i.eps is not None and i.eps < info.eps - 1e-12),
                        key=lambda i: -i.eps):
        v, lab, n = strength.stronger_success(trials, other.key)
        yield Measure(v, f"success of {lab} (eps {other.eps:g}, smaller than {key}'s {info.eps:g})", n)


def measure(trials: pd.DataFrame, key: Optional[str], infos) -> tuple[Optional[Measure], list[str]]:
    """The first measure not saturated over normal training, and the notes on those skipped."""
    notes: list[str] = []
    for m in _candidates(trials, key, infos):
        if not saturated(frame(B.reference(trials), {"v": m.values}), "v"):
            return m, notes + ([m.note] if m.note else [])
        notes.append(f"{m.label} is saturated at every N (>= {T.CLAIM4_CEILING:g} or <= {T.CLAIM4_FLOOR:g}): it cannot move")
    notes.append("no measure that can move (add min_eps_steps to an APGD attack, or a smaller-eps label of the same "
                 "attack, to the spec)")
    return None, notes


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


def _gap(ref: pd.DataFrame, values: pd.Series, decides: bool) -> Optional[B.Statistic]:
    onman = L.attacks_in(ref, L.ONMANIFOLD)
    both = frame(ref, {"v": values, **({"on": ref[L.success_col(onman[0])]} if onman else {})})
    if not onman or len(both) < T.MIN_TRIALS_FOR_SLOPE:
        return None
    gap = (seed_slopes(both, "on") - seed_slopes(both, "v")).dropna()
    stat = B.seed_check(f"slope {onman[0]} - slope of regular measure", gap, "ci>", T.CLAIM4_MIN_SLOPE_GAP)
    stat.decides = stat.decides and decides
    return stat


def claim_regular_independent(trials: pd.DataFrame, seed: int = 0) -> B.ClaimResult:
    """(4) Sec. 3.5, Fig. 6: per-seed slope of a regular measure vs test error over normal
    training, inside a band around 0 and below the on-manifold slope, decided only on a measure
    that can move and separates adversarial from normal training. `seed` is unused."""
    ref = B.reference(trials)
    key, infos = _primary(trials)
    if not L.has_columns(ref, L.TEST_ERROR, L.N) or (key is None and not any(_min_eps_measures(trials))):
        return B.result("4", TITLE4, [], FALSIFIER4, "needs test error and a regular attack's success rate for normal training")
    m, notes = measure(trials, key, infos)
    if m is None:
        return B.result("4", TITLE4, [B.undefined(f"slope [{key or 'regular measure'}]", BAND)], FALSIFIER4, "; ".join(notes))
    df = frame(ref, {"v": m.values})
    if len(df) < T.MIN_TRIALS_FOR_SLOPE:
        notes.append(f"only {len(df)} normal trials (need {T.MIN_TRIALS_FOR_SLOPE})")
        return B.result("4", TITLE4, [B.undefined(f"slope [{m.label}]", BAND)], FALSIFIER4, "; ".join(notes), m.label)
    stats = [B.seed_check(f"slope vs test error of {m.label} ({len(df)} trials)", seed_slopes(df, "v"), "ci|<=|",
                          T.CLAIM4_MAX_ABS_SLOPE),
             B.Statistic(f"Pearson r [{m.label}]", S.pearson(df[L.TEST_ERROR], df["v"]))]
    unequal = _unequal(ref, key) if not m.min_eps else ""
    gap = _gap(ref, m.values, decides=not unequal and not m.min_eps)
    stats += [gap] if gap is not None else []
    if gap is None:
        notes.append("no on-manifold slope measured on the same trials: decided on the band alone")
    elif m.min_eps:
        notes.append("the gap to the on-manifold slope is reported, not deciding: the min-eps measure is APGD's and "
                     "the on-manifold side has none; decided on the band")
    control, blocker = positive_control(trials, m.values)
    stats += [control] if control is not None else []
    per_n = df.groupby(L.N)["v"].mean()
    stats.append(B.Statistic(f"spread of the per-N mean over N ({per_n.size} N)", float(per_n.max() - per_n.min())))
    r = B.result("4", TITLE4, stats, FALSIFIER4, "; ".join(notes), m.label, blockers=[blocker] if blocker else [])
    return r.block(unequal) if unequal and r.verdict == B.HOLDS else r


def _unequal(ref: pd.DataFrame, key: Optional[str]) -> str:
    """Why the gap check compares unequal attacks ("" when it does not): APGD raised regular success."""
    raised = strength.raised_trials(ref, key) if key is not None else 0
    return (f"unequal attacks: regular success raised to APGD's in {raised} normal trials, on-manifold success from "
            "the paper's attack alone: the gap check is inconclusive") if raised else ""
