"""Claims 2 and 4 (Sec. 3.3 and 3.5, Fig. 6) over normally trained trials (claim 3:
claims_generalization.py).

Claim 4 is decided on the least-squares slope of a regular success rate against test error
across trials: its interval inside +-CLAIM4_MAX_ABS_SLOPE and clearly below the on-manifold slope.
Claim 3's threshold lies above that band, so a table with the same dependence for both attacks
can never pass both claims.

A regular rate saturated at every N (>= CLAIM4_CEILING, or <= CLAIM4_FLOOR) has no slope to
speak of; claim 4 then decides on a measure that does not saturate: the success of a smaller-eps
attack label of the same norm when the spec has one, else Fig. 8's mean perturbation norm of the
successful attacks as 1 - mean ||delta|| / eps (on the scale of a success rate).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from raysweep.analysis import claims_base as B
from raysweep.analysis import load as L
from raysweep.analysis import manifold_kinds as MK
from raysweep.analysis import stats as S
from raysweep.analysis import strength
from raysweep.analysis import thresholds as T

TITLE2 = "On-manifold adversarial examples exist"
TITLE4 = "Regular robustness is independent of generalization"
FALSIFIER2 = f"fails if the interval of the smallest per-N mean on-manifold success reaches {T.CLAIM2_MIN_SUCCESS_RATE:g} or below"
FALSIFIER4 = (f"fails if the regular slope's interval leaves [-{T.CLAIM4_MAX_ABS_SLOPE:g}, {T.CLAIM4_MAX_ABS_SLOPE:g}] "
              f"or the on-manifold minus regular slope's interval reaches {T.CLAIM4_MIN_SLOPE_GAP:g} or below; "
              f"a saturated rate never decides")


def _onmanifold(ref: pd.DataFrame) -> list[str]:
    return L.attacks_in(ref, L.ONMANIFOLD)


def attack_groups(df: pd.DataFrame) -> dict[str, list[str]]:
    """On-manifold attack keys with a success rate, per manifold (claims 2 and 3 are per manifold)."""
    return MK.group(_onmanifold(df), lambda k: MK.of_attack(df, k))


# --- claim 2 -----------------------------------------------------------------------------------
def _min_over_n(df: pd.DataFrame, col: str) -> float:
    """One seed's smallest per-N mean success."""
    return float(df.groupby(L.N)[col].mean().min()) if len(df) else float("nan")


def claim_onmanifold_exist(trials: pd.DataFrame, seed: int = 0, manifold: Optional[str] = None) -> B.ClaimResult:
    """(2) Sec. 3.3: on-manifold success per N (mean over seeds, normal training) on one manifold
    (None: the first measured); decides on the smallest per-N mean with its interval."""
    ref = B.reference(trials)
    manifold, attacks = MK.pick(attack_groups(ref), manifold)
    if not attacks or not L.has_columns(ref, L.N):
        return B.result("2", TITLE2, [], FALSIFIER2, "no on-manifold success rate for normal training in the trial table",
                        manifold=manifold)
    stats: list[B.Statistic] = []
    for i, attack in enumerate(attacks):
        col = L.success_col(attack)
        per_n = L.mean_std_by_n(ref, col)
        for _, row in per_n.iterrows():
            stats.append(B.Statistic(f"{attack} success at N={int(row[L.N])} (std {row['std']:.3f}, "
                                     f"seeds: {int(row['count'])})", float(row["mean"])))
        df = ref[[L.N, col] + [c for c in (L.SEED, L.TRIAL_ID) if c in ref.columns]].dropna(subset=[col])
        per_seed = B.per_seed(df, lambda g: _min_over_n(g, col))
        name = f"min over N of {attack} success, mean over seeds"
        stats.append(B.seed_check(name, per_seed, "ci>", T.CLAIM2_MIN_SUCCESS_RATE) if i == 0 else B.seed_stat(name, per_seed))
    return B.result("2", TITLE2, stats, FALSIFIER2, manifold=manifold)


# --- shared with claim 4 ------------------------------------------------------------------------
def _frame(ref: pd.DataFrame, values: dict[str, pd.Series]) -> pd.DataFrame:
    """Test error, the given per-trial values and the cluster columns, rows with all values."""
    keep = [c for c in (L.TEST_ERROR, L.N, L.SEED, L.TRIAL_ID) if c in ref.columns]
    df = ref[keep].copy()
    for k, v in values.items():
        df[k] = v
    return df.dropna(subset=[L.TEST_ERROR, *values]).reset_index(drop=True)


def seed_slopes(df: pd.DataFrame, col: str) -> pd.Series:
    """Per seed: the least-squares slope of `col` on test error (scipy's linregress)."""
    return B.per_seed(df, lambda g: S.slope(g[L.TEST_ERROR], g[col]))


# --- claim 4 -----------------------------------------------------------------------------------
def saturated(df: pd.DataFrame, col: str) -> bool:
    """True when the per-N mean is at the ceiling (or the floor) at every N: the rate says nothing."""
    means = df.groupby(L.N)[col].mean() if L.N in df.columns else df[col]
    return bool(len(means)) and (bool((means >= T.CLAIM4_CEILING).all()) or bool((means <= T.CLAIM4_FLOOR).all()))


def _primary(ref: pd.DataFrame) -> tuple[Optional[str], list[strength.AttackInfo]]:
    infos = [i for i in strength.regular_infos(ref) if not i.strong]
    if infos:
        return infos[0].key, infos
    keys = [k for k in L.attacks_in(ref, L.REGULAR) if not L.attack_names(ref).get(k, k).startswith(strength.STRONG_PREFIX)]
    return (keys[0] if keys else None), []


def _measure(ref: pd.DataFrame, key: str, infos: list[strength.AttackInfo]) -> tuple[Optional[pd.Series], str, list[str]]:
    """(per-trial values, what they are, notes) of the measure claim 4 decides on."""
    values, label, note = strength.stronger_success(ref, key)
    notes = [note] if note else []
    if not saturated(_frame(ref, {"v": values}), "v"):
        return values, f"success of {label}", notes
    notes.append(f"{label} success is saturated at every N (>= {T.CLAIM4_CEILING:g} or <= {T.CLAIM4_FLOOR:g}): "
                 "the rate does not decide")
    info = next((i for i in infos if i.key == key), None)
    if info is None or info.eps is None or info.norm is None:
        return None, "", notes + [f"no eps known for {key}: no measure that does not saturate"]
    smaller = sorted((i for i in infos if i.norm == info.norm and i.eps is not None and i.eps < info.eps - 1e-12),
                     key=lambda i: -i.eps)
    for other in smaller:
        v, lab, n = strength.stronger_success(ref, other.key)
        if not saturated(_frame(ref, {"v": v}), "v"):
            return v, f"success of {lab} (eps {other.eps:g}, smaller than {key}'s {info.eps:g})", notes + ([n] if n else [])
    col = L.mean_norm_col(key, info.norm)
    if not L.has_columns(ref, col):
        return None, "", notes + [f"no {col} column: no measure that does not saturate"]
    return (1.0 - ref[col] / info.eps, f"1 - mean ||delta||_{info.norm.replace('l', '')} / eps of {key} "
            f"(eps {info.eps:g}, successful early-stopped attacks, Fig. 8)", notes)


def claim_regular_independent(trials: pd.DataFrame, seed: int = 0) -> B.ClaimResult:
    """(4) Sec. 3.5, Fig. 6 (Fig. 8 for the norm): slope of regular success (the stronger of the
    paper's attack and APGD per trial) vs test error, normal training, inside a band around 0 and
    below the on-manifold slope; at the ceiling, a measure that does not saturate decides."""
    ref = B.reference(trials)
    key, infos = _primary(ref)
    if key is None or not L.has_columns(ref, L.TEST_ERROR, L.N):
        return B.result("4", TITLE4, [], FALSIFIER4, "needs test error and a regular attack's success rate for normal training")
    values, measure, notes = _measure(ref, key, infos)
    band = f"interval inside [-{T.CLAIM4_MAX_ABS_SLOPE:g}, {T.CLAIM4_MAX_ABS_SLOPE:g}]"
    if values is None:
        return B.result("4", TITLE4, [B.undefined(f"slope [{key}]", band)], FALSIFIER4, "; ".join(notes))
    onman = _onmanifold(ref)
    cols = {"v": values, **({"on": ref[L.success_col(onman[0])]} if onman else {})}
    df = _frame(ref, {"v": values})
    if len(df) < T.MIN_TRIALS_FOR_SLOPE:
        notes.append(f"only {len(df)} normal trials (need {T.MIN_TRIALS_FOR_SLOPE})")
        return B.result("4", TITLE4, [B.undefined(f"slope [{measure}]", band)], FALSIFIER4, "; ".join(notes), measure)
    stats = [B.seed_check(f"slope vs test error of {measure} ({len(df)} trials)", seed_slopes(df, "v"), "ci|<=|",
                          T.CLAIM4_MAX_ABS_SLOPE),
             B.Statistic(f"Pearson r [{measure}]", S.pearson(df[L.TEST_ERROR], df["v"]))]
    both = _frame(ref, cols) if onman else df.iloc[0:0]
    if onman and len(both) >= T.MIN_TRIALS_FOR_SLOPE:
        gap = seed_slopes(both, "on") - seed_slopes(both, "v")
        stats.append(B.seed_check(f"slope {onman[0]} - slope of regular measure", gap.dropna(), "ci>",
                                  T.CLAIM4_MIN_SLOPE_GAP))
    else:
        notes.append("no on-manifold slope measured on the same trials: decided on the band alone")
    per_n = df.groupby(L.N)["v"].mean()
    stats.append(B.Statistic(f"spread of the per-N mean over N ({per_n.size} N)", float(per_n.max() - per_n.min())))
    return B.result("4", TITLE4, stats, FALSIFIER4, "; ".join(notes), measure)
