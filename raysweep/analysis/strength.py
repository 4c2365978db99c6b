"""The attack-strength check (AutoAttack's practice): is the paper's attack as strong as APGD?

When a sweep runs APGD (Croce & Hein 2020; registered regular attacks named `apgd*`) beside the
paper's attack on the same threat model (same norm and eps), every trial compares the two. A
trial where APGD finds more than STRENGTH_MAX_GAP more is flagged: its regular robustness is
overstated by the weaker attack (AutoAttack's own check). Rates compared: any-restart success
(samples broken by some restart), which does not penalise an attack for averaging over restarts.

Claim 4 (Sec. 3.5) uses `stronger_success`: per trial the larger success of the paper's attack
and its APGD partners, and says so. Attack names, families, norms and eps come from the attack
registry and each trial's resolved config (config_json), never from lists of names here.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Optional

import pandas as pd

from raysweep.analysis import load as L
from raysweep.analysis import thresholds as T

STRONG_PREFIX = "apgd"  # registered names of the reference attacks: apgd_ce, apgd_t, ...
EPS_TOL = 1e-9


@dataclass(frozen=True)
class AttackInfo:
    """One attack column prefix: the registered name, family, norm and eps it ran with."""

    key: str
    name: str
    family: Optional[str]
    norm: Optional[str]
    eps: Optional[float]

    @property
    def strong(self) -> bool:
        return self.name.startswith(STRONG_PREFIX)

    def same_threat(self, other: "AttackInfo") -> bool:
        return (self.norm is not None and self.norm == other.norm and self.eps is not None
                and other.eps is not None and abs(self.eps - other.eps) <= EPS_TOL)


def attack_params(trials: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Attack key (label or name) -> its configured params, from the trials' config_json."""
    out: dict[str, dict[str, Any]] = {}
    for a in L.config_attacks(trials):
        out.setdefault(a.get("label") or a["name"], dict(a.get("params") or {}))
    return out


def attack_info(trials: pd.DataFrame, key: str) -> Optional[AttackInfo]:
    """The registry's view of one attack key; None when no registered attack has its name."""
    name = L.attack_names(trials).get(key, key)
    family = L.attack_family(name)
    if family is None:
        return None
    from raysweep.attacks import ATTACKS  # lazy: torch-free table reading (load.attack_family)

    try:
        config = ATTACKS.build(name, **attack_params(trials).get(key, {})).config
    except Exception:  # a table written under other defaults: the threat model stays unknown
        config = None
    eps = getattr(config, "eps", None)
    return AttackInfo(key, name, family, getattr(config, "norm", None), float(eps) if eps is not None else None)


def regular_infos(trials: pd.DataFrame) -> list[AttackInfo]:
    infos = [attack_info(trials, k) for k in L.attacks_in(trials, L.REGULAR)]
    return [i for i in infos if i is not None and i.family == L.REGULAR]


def pairs(trials: pd.DataFrame) -> list[tuple[AttackInfo, AttackInfo]]:
    """(paper's attack, APGD attack) on the same norm and eps, paper's attacks in preference order."""
    infos = regular_infos(trials)
    return [(a, b) for a in infos if not a.strong for b in infos if b.strong and a.same_threat(b)]


def _rate(trials: pd.DataFrame, key: str) -> pd.Series:
    col = L.success_col(key, "any")
    return trials[col] if col in trials.columns and trials[col].notna().any() else trials[L.success_col(key)]


def compare(trials: pd.DataFrame, paper: str, strong: str) -> pd.DataFrame:
    """Per trial: both any-restart success rates, the gap strong - paper, and the flag."""
    ids = [c for c in (L.TRIAL_ID, L.STRATEGY, L.N, L.SEED) if c in trials.columns]
    df = trials[ids].copy()
    df["paper"], df["strong"] = _rate(trials, paper), _rate(trials, strong)
    df = df.dropna(subset=["paper", "strong"])
    df["gap"] = df["strong"] - df["paper"]
    df["flagged"] = df["gap"] > T.STRENGTH_MAX_GAP + 1e-9  # rates are count ratios: exactly 2 points is not "more"
    return df.reset_index(drop=True)


@dataclass
class PairCheck:
    paper: AttackInfo
    strong: AttackInfo
    table: pd.DataFrame  # compare()'s rows

    @property
    def n_flagged(self) -> int:
        return int(self.table["flagged"].sum())


def strength_check(trials: pd.DataFrame) -> list[PairCheck]:
    """Every (paper's attack, APGD) pair of the sweep, compared per trial."""
    return [PairCheck(a, b, compare(trials, a.key, b.key)) for a, b in pairs(trials)]


def stronger_success(trials: pd.DataFrame, key: str) -> tuple[pd.Series, str, str]:
    """Per-trial per-attempt success of `key`, raised to its APGD partners' where they find more;
    (values, label, note). Without partners: key's own success, its label, no note."""
    own = trials[L.success_col(key)]
    info = attack_info(trials, key)
    if info is None or info.strong:
        return own, key, ""
    partners = [b.key for a, b in pairs(trials) if a.key == key]
    partners = [p for p in partners if trials[L.success_col(p)].notna().any()]
    if not partners:
        return own, key, ""
    values = pd.concat([own] + [trials[L.success_col(p)] for p in partners], axis=1).max(axis=1, skipna=True)
    label = "max(" + ", ".join([key, *partners]) + ")"
    raised = int((values > own + 1e-12).sum())
    note = (f"regular success is the stronger of {key} and {', '.join(partners)} per trial "
            f"(APGD found more in {raised} of {int(own.notna().sum())} trials)")
    return values, label, note


def raised_trials(trials: pd.DataFrame, key: str) -> int:
    """How many trials' success of `key` stronger_success raised to an APGD partner's."""
    values = stronger_success(trials, key)[0]
    return int((values > trials[L.success_col(key)] + 1e-12).sum())


def section(trials: pd.DataFrame, limit: int = 20) -> list[str]:
    """The report's strength-check section (markdown lines)."""
    checks = strength_check(trials)
    lines = ["## Attack strength check", ""]
    if not checks:
        names = ", ".join(i.key for i in regular_infos(trials) if i.strong)
        why = (f"APGD ({names}) shares no norm and eps with the paper's attacks" if names
               else "the sweep runs no APGD attack beside the paper's")
        return lines + [f"Not checked: {why}. Regular success rates may be overstated robustness "
                        f"if a stronger attack finds more (add `apgd_ce` on the same eps to the spec).", ""]
    lines += [f"Flag: APGD's any-restart success exceeds the paper attack's by more than "
              f"{T.STRENGTH_MAX_GAP:g} in a trial (its robustness is then overstated).", "",
              "| paper's attack | APGD | norm, eps | trials | flagged | mean gap | max gap |", "|---|---|---|---|---|---|---|"]
    for c in checks:
        t = c.table
        gap = lambda f: "n/a" if t.empty or not math.isfinite(f) else f"{f:+.3f}"  # noqa: E731
        lines.append(f"| {c.paper.key} | {c.strong.key} | {c.paper.norm}, {c.paper.eps:g} | {len(t)} | "
                     f"{c.n_flagged} | {gap(t['gap'].mean() if len(t) else math.nan)} | "
                     f"{gap(t['gap'].max() if len(t) else math.nan)} |")
    flagged = pd.concat([c.table[c.table["flagged"]].assign(paper_attack=c.paper.key, apgd=c.strong.key)
                         for c in checks], ignore_index=True)
    if len(flagged):
        lines += ["", f"Flagged trials (largest gaps first, at most {limit}):", ""]
        for _, r in flagged.sort_values("gap", ascending=False).head(limit).iterrows():
            where = ", ".join(f"{k}={r[k]}" for k in (L.STRATEGY, L.N, L.SEED) if k in r.index)
            lines.append(f"- {r.get(L.TRIAL_ID, '?')} ({where}): {r['paper_attack']} {r['paper']:.3f}, "
                         f"{r['apgd']} {r['strong']:.3f} (gap {r['gap']:+.3f})")
    return lines + [""]
