"""Every threshold a claim verdict or the strength check compares with, fixed here before any
sweep's results are read, so that no threshold is tuned to make a claim pass. The report lists
them all.

Scales: success rates and "1 - mean ||delta|| / eps" are fractions in [0, 1]; test error too, so
a slope of s means "s points of success per point of test error".
"""
from __future__ import annotations

# (1) Sec. 3.2, Fig. 3: regular examples leave the manifold almost orthogonally, ratio ~1.
# 0.8 = at least 80% of ||delta||_2 is off the manifold (an angle of >= 53 deg to its tangent).
CLAIM1_MIN_REGULAR_RATIO = 0.8
# ... and on-manifold examples, under the same distance, sit clearly nearer: the control.
CLAIM1_MIN_RATIO_GAP = 0.1
# Exact control (examples on the very manifold the distance projects onto): an example measured
# with ratio above 0.5 is a projection failure (the issue's own measure) ...
CLAIM1_MISPROJECTED_RATIO = 0.5
# ... and more than 5% of them means the distance cannot tell on from off the manifold.
CLAIM1_MAX_MISPROJECTED = 0.05

# (2) Sec. 3.3: on-manifold adversarial examples exist: mean success >= 2% at every N
# (a rate below this is within a few examples of zero for the paper's 2500 x 5 attempts).
CLAIM2_MIN_SUCCESS_RATE = 0.02

# (3) Sec. 3.4, Fig. 5: on-manifold success rises with test error. Lower end of the interval of
# the test-error coefficient (success ~ test error + log N, every strategy's trials, so N cannot
# stand in for test error) above 0.5 (the paper's FONTS/EMNIST curves rise by several points per
# point of test error) and a strong linear relation.
CLAIM3_MIN_SLOPE = 0.5
CLAIM3_MIN_PEARSON = 0.7

# (3b) Sec. 3.4.1, Fig. 5 top: on-manifold adversarial training lowers test error: the upper end
# of the interval of the mean change (vs normal, same N and seed) must lie below 0.
CLAIM3B_MAX_CHANGE = 0.0
# "small N": the lower half of the sweep's N grid (the paper: "especially for low N").
CLAIM3B_SMALL_N_QUANTILE = 0.5

# (4) Sec. 3.5, Fig. 6: regular success is independent of test error: the whole slope interval
# inside [-0.25, 0.25]. Half of claim 3's minimum, so no slope interval can pass both claims.
CLAIM4_MAX_ABS_SLOPE = 0.25
# ... and clearly below the on-manifold slope of the same sweep (paired interval of the gap).
CLAIM4_MIN_SLOPE_GAP = 0.25
# Where an APGD attack measured each sample's smallest successful eps (min_eps_steps), claim 4's
# measure is 1 - mean min-eps / eps: the success rate averaged over eps' in [0, eps], the same
# scale, so these thresholds serve it unchanged.
# A rate at or above this at every N (or at or below the floor) is saturated and says nothing;
# claim 4 then decides on the next measure: a smaller-eps label's success, if the spec has one.
CLAIM4_CEILING = 0.95
CLAIM4_FLOOR = 0.05
# Positive control of claim 4's measure: regular adversarial training (Sec. 3.5, Fig. 6: success
# falls far below normal training's) must measure more robust than normal training at the same N
# and seed by more than 10 points of success (interval of the mean difference), else the measure
# may not reflect robustness and the verdict is inconclusive.
CLAIM4_MIN_SEPARATION = 0.1

# (5) Sec. 3.6, Fig. 7 top: adversarial training needs more data ("roughly twice"): the lower
# end of the N factor's interval at equal test error above 1.
CLAIM5_MIN_FACTOR = 1.0

# Strength check (AutoAttack's practice): APGD finding more than 2 points more than
# the paper's attack on the same threat model flags the trial (its robustness is overstated).
STRENGTH_MAX_GAP = 0.02

# Intervals are t-intervals over per-seed estimates (stats.t_interval): below this many seeds a
# claim has no interval and is inconclusive.
MIN_SEEDS = 2
INTERVAL_LEVEL = 0.95
MIN_TRIALS_FOR_SLOPE = 4  # fewer points make a slope or r meaningless


def thresholds() -> dict[str, float]:
    """The named thresholds, for the report."""
    return {k: v for k, v in globals().items()
            if k.isupper() and isinstance(v, (int, float)) and not isinstance(v, bool)}
