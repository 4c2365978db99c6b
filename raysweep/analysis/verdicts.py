"""Claim results as rows: what analysis/claims.json holds and what the report's claims table shows.

One row per (claim, manifold): {claim, manifold, verdict, statistic, value, interval, threshold,
reason} (README, "The claims report"). `statistic` is the check that settled the verdict: the
first failed one for "does not hold", the first undefined one for "not measured", else the first
deciding one. Numbers that are not finite are written as null, so the file is strict JSON.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

from raysweep.analysis import claims_base as B

JSON_NAME = "claims.json"
FIELDS = ("claim", "manifold", "verdict", "statistic", "value", "interval", "threshold", "reason")


def _number(v: Optional[float]) -> Optional[float]:
    return float(v) if v is not None and math.isfinite(v) else None


def settling(r: B.ClaimResult) -> Optional[B.Statistic]:
    """The deciding statistic that settled the verdict (None when the claim has none)."""
    deciding = r.deciding()
    if not deciding:
        return None
    if r.verdict == B.FAILS:
        return next(s for s in deciding if s.passed is False)
    if r.verdict == B.NOT_MEASURED:
        return next((s for s in deciding if s.passed is None), deciding[0])
    return deciding[0]


def reason(r: B.ClaimResult, stat: Optional[B.Statistic]) -> str:
    """Why the verdict: the blockers first (inconclusive), the failed check, then the notes."""
    parts = list(r.blockers)
    if r.verdict == B.FAILS and stat is not None:
        parts.append(f"{stat.name} fails: {stat.threshold}")
    if r.verdict == B.HOLDS:
        parts.append(f"all {len(r.deciding())} deciding checks pass")
    if r.note:
        parts.append(r.note)
    return "; ".join(parts)


def row(r: B.ClaimResult) -> dict[str, Any]:
    s = settling(r)
    interval = None
    if s is not None and s.interval is not None and all(_number(v) is not None for v in s.interval):
        interval = [float(s.interval[0]), float(s.interval[1])]
    return {"claim": r.number, "manifold": r.manifold, "verdict": r.verdict,
            "statistic": s.name if s is not None else None, "value": _number(s.value) if s is not None else None,
            "interval": interval, "threshold": s.threshold if s is not None else None, "reason": reason(r, s)}


def rows(results: list[B.ClaimResult]) -> list[dict[str, Any]]:
    return [row(r) for r in results]


def label(r: dict[str, Any]) -> str:
    """"(2, true)" or "(5)": how the headline and the table name a row."""
    return f"({r['claim']}, {r['manifold']})" if r["manifold"] else f"({r['claim']})"


def headline(table: list[dict[str, Any]]) -> str:
    return "Claims: " + ", ".join(f"{label(r)} {r['verdict']}" for r in table) + "."


def write_json(path: Path, table: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(table, indent=2, allow_nan=False) + "\n")
    return path
