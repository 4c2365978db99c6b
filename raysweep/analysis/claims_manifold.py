"""Claim 1 (Sec. 3.2, Fig. 3): regular adversarial examples leave the manifold.

Statistic: the median of ||x_adv - pi(x_adv)||_2 / ||x_adv - x||_2 (x the real test image; the
example table's `delta_l2`) over successful attacks on correctly classified test images. The
ratio is at most ~1 by construction and random noise reaches it too, so a distance method counts
only with its control: the same method measuring on-manifold examples, which must sit clearly
nearer (the gap). Where the on-manifold examples lie on the very manifold the method projects
onto (true attack + true projection), the method's own error is a control too: a projection that
gets stuck measures them far away, and would make any example look off-manifold.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from raysweep.analysis import claims_base as B
from raysweep.analysis import load as L
from raysweep.analysis import manifold_kinds as MK
from raysweep.analysis import thresholds as T

TITLE = "Regular adversarial examples leave the manifold"
FALSIFIER = (f"fails if, under a distance with an on-manifold control, the regular median ratio's interval "
             f"reaches below {T.CLAIM1_MIN_REGULAR_RATIO:g}, the gap to the on-manifold median's interval "
             f"reaches below {T.CLAIM1_MIN_RATIO_GAP:g}, or more than {T.CLAIM1_MAX_MISPROJECTED:.0%} of "
             f"examples on the projected manifold measure ratio > {T.CLAIM1_MISPROJECTED_RATIO:g}")

Values = tuple[np.ndarray, np.ndarray, str]  # (ratios, their seeds, where they came from)


def _seeds(df: pd.DataFrame) -> np.ndarray:
    return df[L.SEED].to_numpy() if L.SEED in df.columns else np.zeros(len(df))


def _by_seed(values: np.ndarray, seeds: np.ndarray, fn) -> pd.Series:
    """fn over each seed's values: the per-seed estimates the t-interval is taken over."""
    return pd.Series(values).groupby(seeds).agg(fn).astype(float)


def _example_ratios(examples: pd.DataFrame, attack: str, distance: str) -> Optional[Values]:
    ex = L.attacked_examples(examples, attack)
    col = L.dist_col(distance)
    norm = L.DELTA_L2 if L.DELTA_L2 in ex.columns else L.IMAGE_L2
    if ex.empty or col not in ex.columns or norm not in ex.columns:
        return None
    dist, delta = ex[col].to_numpy(float), ex[norm].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(delta > 0, dist / delta, np.nan)
    keep = np.isfinite(ratio)
    if not keep.any():
        return None
    return ratio[keep], _seeds(ex)[keep], f"{int(keep.sum())} examples"


def _trial_ratios(trials: pd.DataFrame, attack: str, distance: str) -> Optional[Values]:
    col = L.median_ratio_col(distance, attack)
    if not L.has_columns(trials, col):
        return None
    df = trials[trials[col].notna()]
    return df[col].to_numpy(float), _seeds(df), f"{len(df)} per-trial medians"


def ratios(examples: pd.DataFrame, trials: pd.DataFrame, attack: str, distance: str) -> Optional[Values]:
    """Ratios from the example table, else the trial table's per-trial medians."""
    return _example_ratios(examples, attack, distance) or _trial_ratios(trials, attack, distance)


def distances(examples: pd.DataFrame, trials: pd.DataFrame) -> list[str]:
    from_trials = {c.split(".")[0] for c in trials.columns if c.endswith(".median_ratio") and trials[c].notna().any()}
    found = set(L.distances_in(examples)) | from_trials
    return sorted(found, key=lambda d: (L.DISTANCE_PREFERENCE.index(d) if d in L.DISTANCE_PREFERENCE else 99, d))


def _keys(examples: pd.DataFrame, trials: pd.DataFrame, distance: str, family: str) -> list[str]:
    keys = set(L.example_attacks_in(examples, trials, family)) | set(L.ratio_attacks_in(trials, distance, family))
    return L.order_attacks(keys, L.attack_names(trials), family)


def _median_gap(reg: Values, on: Values) -> pd.Series:
    """Per seed: median(regular ratios) - median(on-manifold ratios), seeds measured by both."""
    return (_by_seed(reg[0], reg[1], "median") - _by_seed(on[0], on[1], "median")).dropna()


def exact_control(distance: str, attack_name: str) -> bool:
    """True when the attack's examples lie on the manifold the distance projects onto."""
    from raysweep.attacks import ATTACKS  # lazy: torch-free table reading (load.attack_family)
    from raysweep.manifold.distance import DISTANCES

    if distance not in DISTANCES or attack_name not in ATTACKS:
        return False
    need = DISTANCES.get(distance).needs
    return need in ("true", "class", "data") and need == ATTACKS.get(attack_name).needs


def _projection_error(on: Values, attack: str, distance: str) -> list[B.Statistic]:
    """The distance's own error on examples that lie on its manifold (they should measure ~0)."""
    bad = (on[0] > T.CLAIM1_MISPROJECTED_RATIO).astype(float)
    name = f"projection error [{distance}]: share of {attack} examples with ratio > {T.CLAIM1_MISPROJECTED_RATIO:g}"
    share = B.seed_stat(name, _by_seed(bad, on[1], "mean"))
    return [B.check(name, share.value, share.interval, "<=", T.CLAIM1_MAX_MISPROJECTED),
            B.Statistic(f"projection error [{distance}]: 90th percentile ratio of {attack}", float(np.quantile(on[0], 0.9)))]


def _method(examples, trials, distance: str, seed: int) -> tuple[list[B.Statistic], Optional[str]]:
    """Statistics for one distance method; the second item names a missing control, else None."""
    names = L.attack_names(trials)
    regular = [(k, v) for k in _keys(examples, trials, distance, L.REGULAR)
               if (v := ratios(examples, trials, k, distance)) is not None]
    onman = [(k, v) for k in _keys(examples, trials, distance, L.ONMANIFOLD)
             if (v := ratios(examples, trials, k, distance)) is not None]
    if not regular:
        return [], None
    stats: list[B.Statistic] = []
    controlled = bool(onman)
    for i, (key, v) in enumerate(regular + onman):
        name = f"median dist/||delta|| [{key}, {distance}] ({v[2]}), mean over seeds"
        medians = _by_seed(v[0], v[1], "median")
        if controlled and i == 0:
            stats.append(B.seed_check(name, medians, "ci>", T.CLAIM1_MIN_REGULAR_RATIO))
        else:
            stats.append(B.seed_stat(name, medians))
    if not controlled:
        return stats, distance
    (rkey, rv), (okey, ov) = regular[0], onman[0]
    stats.append(B.seed_check(f"gap median ratio {rkey} - {okey} [{distance}]", _median_gap(rv, ov),
                              "ci>", T.CLAIM1_MIN_RATIO_GAP))
    if exact_control(distance, names.get(okey, okey)):
        stats += _projection_error(ov, okey, distance)
    return stats, None


def _reference(trials: pd.DataFrame, examples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Normal training's examples and trials where present (the claim is about them), else all."""
    ex = examples
    if L.STRATEGY in examples.columns and (examples[L.STRATEGY] == B.REFERENCE_STRATEGY).any():
        ex = examples[examples[L.STRATEGY] == B.REFERENCE_STRATEGY]
    return (B.reference(trials) if len(B.reference(trials)) else trials), ex


def distance_groups(trials: pd.DataFrame, examples: pd.DataFrame) -> dict[str, list[str]]:
    """Distance methods with values, per manifold they project onto (claim 1 is per manifold)."""
    tr, ex = _reference(trials, examples)
    return MK.group(distances(ex, tr), MK.of_distance)


def claim_off_manifold(trials: pd.DataFrame, examples: pd.DataFrame, seed: int = 0,
                       manifold: Optional[str] = None) -> B.ClaimResult:
    """(1) Sec. 3.2, Fig. 3: per distance method of one manifold (None: the first measured) with
    an on-manifold control, the regular median ratio and its gap to the on-manifold one (normal
    training where present); every controlled method decides, a method without control is
    reported as "not measured" for that method."""
    tr, ex = _reference(trials, examples)
    manifold, methods = MK.pick(MK.group(distances(ex, tr), MK.of_distance), manifold)
    stats: list[B.Statistic] = []
    missing: list[str] = []
    for distance in methods:
        s, lacking = _method(ex, tr, distance, seed)
        stats += s
        if lacking:
            missing.append(lacking)
    note = "; ".join(f"{m}: not measured (no on-manifold control for {m})" for m in missing)
    if not stats:
        return B.result("1", TITLE, [], FALSIFIER, "no distance to the manifold measured for a regular attack",
                        manifold=manifold)
    if not any(s.decides for s in stats):
        return B.result("1", TITLE, stats, FALSIFIER, f"no on-manifold control for {', '.join(missing)}", manifold=manifold)
    return B.result("1", TITLE, stats, FALSIFIER, note, manifold=manifold)
