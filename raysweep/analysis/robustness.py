"""The robust-accuracy table: per model, clean accuracy, robust accuracy under each attack and
the worst case per image over all attacks (raysweep.attacks.robust), the numbers AutoAttack and
RobustBench report. It leads an evaluation's report (`raysweep evaluate`), where the paper's
claims, which compare models over N and training strategies, are mostly not measurable."""
from __future__ import annotations

import math

import pandas as pd

from raysweep.results.schema import CLEAN_ACC, ROBUST_ACC, ROBUST_WORST

PRETRAINED = "pretrained"  # the strategy_name of every row `raysweep evaluate` writes


def is_evaluation(trials: pd.DataFrame) -> bool:
    """Whether the rows come from `raysweep evaluate` (models trained elsewhere), not a sweep."""
    return "strategy_name" in trials and len(trials) > 0 and (trials["strategy_name"] == PRETRAINED).all()


def section(trials: pd.DataFrame) -> list[str]:
    """`## Robust accuracy` with one row per ok trial; nothing for tables written before the columns existed."""
    ok = trials[trials["status"] == "ok"] if "status" in trials else trials
    if CLEAN_ACC not in ok or ok[CLEAN_ACC].isna().all():
        return []
    attacks = sorted(c.removesuffix(f".{ROBUST_ACC}") for c in ok.columns if c.endswith(f".{ROBUST_ACC}"))
    head = ["model", "N", "seed", "clean", *attacks, "worst case", "test error"]
    lines = ["## Robust accuracy", "",
             "Share of the attacked test images still classified correctly after each attack; the worst case "
             "counts an image robust only if no attack broke it.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in ok.sort_values(["strategy", "n", "seed"]).iterrows():
        cells = [r["strategy"], str(r["n"]), str(r["seed"]), _pct(r[CLEAN_ACC]),
                 *[_pct(r.get(f"{a}.{ROBUST_ACC}")) for a in attacks], _pct(r[ROBUST_WORST]), _pct(r.get("test_error"))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def _pct(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{float(value):.3f}"
