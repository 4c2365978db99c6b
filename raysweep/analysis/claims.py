"""The paper's claims as statistics with verdicts that can fail (Stutz, Hein, Schiele, CVPR 2019).

(1)  Regular adversarial examples leave the manifold (Sec. 3.2, Fig. 3).
(2)  On-manifold adversarial examples exist (Sec. 3.3, Fig. 2).
(3)  On-manifold robustness is essentially generalization (Sec. 3.4, Fig. 5 bottom).
(3b) On-manifold adversarial training boosts generalization (Sec. 3.4.1, Fig. 5 top).
(4)  Regular robustness is independent of generalization (Sec. 3.5, Fig. 6 and 8).
(5)  Adversarial training needs more data (Sec. 3.6, Fig. 7 top).

Every function is pure over DataFrames laid out as in docs/architecture.md ("Tables"), so tests
feed synthetic tables. Each verdict carries its deciding statistic, its interval (Student's t over
per-seed estimates, stats.t_interval; fewer than MIN_SEEDS seeds: inconclusive), the threshold (raysweep/analysis/thresholds.py, fixed before any results
were read) and a falsifier line. The pieces: raysweep/analysis/claims_base.py (verdict rule),
claims_manifold.py (1), claims_robustness.py (2), claims_generalization.py (3), claims_regular.py (4),
claims_training.py (3b, 5), manifold_quality.py (the quality gate), stats.py.
"""
from __future__ import annotations

from typing import Optional

import pandas as pd

from raysweep.analysis.claims_base import (FAILS, HOLDS, INCONCLUSIVE, NOT_MEASURED, REFERENCE_STRATEGY, VERDICTS,
                                           ClaimResult, Statistic)
from raysweep.analysis.claims_base import reference
from raysweep.analysis.claims_manifold import claim_off_manifold, distance_groups
from raysweep.analysis.claims_generalization import claim_onmanifold_generalization
from raysweep.analysis.claims_generalization import attack_groups as onmanifold_attacks
from raysweep.analysis.claims_regular import claim_regular_independent
from raysweep.analysis.claims_robustness import attack_groups, claim_onmanifold_exist
from raysweep.analysis.claims_training import claim_onmanifold_training, claim_sample_complexity, strategy_groups
from raysweep.analysis.manifold_quality import gate
from raysweep.analysis.thresholds import INTERVAL_LEVEL, MIN_SEEDS, thresholds

__all__ = [
    "INTERVAL_LEVEL", "MIN_SEEDS", "FAILS", "HOLDS", "INCONCLUSIVE", "NOT_MEASURED", "REFERENCE_STRATEGY", "VERDICTS",
    "ClaimResult",
    "Statistic", "claim_off_manifold", "claim_onmanifold_exist", "claim_onmanifold_generalization",
    "claim_onmanifold_training", "claim_regular_independent", "claim_sample_complexity", "evaluate_claims",
    "thresholds",
]


def evaluate_claims(trials: pd.DataFrame, examples: pd.DataFrame, seed: int = 0,
                    quality: Optional[pd.DataFrame] = None) -> list[ClaimResult]:
    """All claims in the paper's order: 1, 2, 3, 3b, 4, 5; claims 1-3b once per manifold the sweep
    measured (true, learned-class, learned-data: manifold_kinds.py), one row when it measured none.
    quality: the sweep's manifolds table; a learned manifold's verdicts are inconclusive when its
    models are below the documented quality or have no rows there (manifold_quality.gate)."""
    def each(fn, manifolds, *tables) -> list[ClaimResult]:
        return [fn(*tables, seed=seed, manifold=m) for m in manifolds] or [fn(*tables, seed=seed)]

    return gate([
        *each(claim_off_manifold, list(distance_groups(trials, examples)), trials, examples),
        *each(claim_onmanifold_exist, list(attack_groups(reference(trials))), trials),
        *each(claim_onmanifold_generalization, list(onmanifold_attacks(trials)), trials),
        *each(claim_onmanifold_training, list(strategy_groups(trials)), trials),
        claim_regular_independent(trials, seed=seed),
        claim_sample_complexity(trials, seed=seed),
    ], quality)
