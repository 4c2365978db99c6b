"""A sweep's Parquet tables (docs/architecture.md, "Tables") as pandas, and views over them.

Tables are read through the library's reader (raysweep.results.reader: local paths and URIs,
schema unification); column names come from raysweep.results (schema, names). A results directory is
either `<storage>/<sweep>` (holding `tables/trials` and `tables/examples`) or the `tables`
folder itself.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import pyarrow as pa

from raysweep._core import storage
from raysweep._core.errors import UserError
from raysweep.results import reader
from raysweep.results import schema as S
from raysweep.results.names import attack_column, distance_column, example_distance_column

# --- column names: declared once in raysweep.results.schema ----------------------------------
SWEEP, TRIAL_ID, STATUS, STATUS_OK = S.SWEEP, S.TRIAL_ID, S.STATUS, S.STATUS_OK
DATASET, N, SEED, STRATEGY, ARCH = S.DATASET, S.N, S.SEED, S.STRATEGY, S.ARCH
TEST_ERROR, TRAIN_TIME, EVAL_TIME = S.TEST_ERROR, S.TRAIN_TIME, S.EVAL_TIME
STARTED_AT, FINISHED_AT, CONFIG_JSON = S.STARTED_AT, S.FINISHED_AT, S.CONFIG_JSON  # unix seconds
ATTACK, SUCCESS, CORRECT, VALID, DELTA_L2 = S.ATTACK, S.SUCCESS, S.CORRECT, S.VALID, S.DELTA_L2
IMAGE_L2 = S.IMAGE_L2  # the attack record's own image-space norm, used when delta_l2 is absent
DIST_PREFIX = S.DIST_PREFIX
EXAMPLE_COLUMNS = (SWEEP, TRIAL_ID, DATASET, N, SEED, STRATEGY, ARCH, ATTACK, SUCCESS, CORRECT, VALID,
                   DELTA_L2, IMAGE_L2)

# --- families (registry metadata in raysweep._core.registry; rows carry them, see family_of) ---------
REGULAR = "regular"  # unconstrained image-space attacks (Sec. 3.1)
ONMANIFOLD = "on-manifold"  # Sec. 3.2/3.3
TRANSFORMATION = "transformation"
BASELINE = "baseline"
NORMAL = "normal"  # the strategy name, and its family
ADVERSARIAL = "adversarial"
COMBINED = "combined"
# Within a family the paper's own attack comes first (it is what the figures show).
PREFERRED_ATTACKS = ("linf", "onmanifold_true", "l2", "cw", "onmanifold_class", "onmanifold_data")
# Preference order when one distance method stands for all (true manifold beats approximations).
DISTANCE_PREFERENCE = ("true", "knn")

RATES = ("attempt", "any")


def success_col(attack: str, rate: str = "attempt") -> str:
    """Trial-table column of an attack's success rate: per attempt (the authors') or any-restart."""
    if rate not in RATES:
        raise ValueError(f"rate must be one of {RATES}, got {rate!r}")
    return attack_column(attack, f"success_rate_{rate}")


def mean_norm_col(attack: str, norm: str = "l2") -> str:
    """Trial-table column of the mean perturbation norm over successful attempts."""
    return attack_column(attack, f"mean_{norm}")


def median_ratio_col(distance: str, attack: str) -> str:
    """Trial-table column: median ||x_adv - pi(x_adv)|| / ||delta|| for one distance and attack."""
    return distance_column(distance, attack, "median_ratio")


def dist_col(distance: str) -> str:
    """Example-table column of the absolute distance to the manifold for one method."""
    return example_distance_column(distance)


@dataclass
class Tables:
    """The two tables of one results directory (only trials with status ok kept).

    root: the sweep's results directory (a local path or a URI)."""

    trials: pd.DataFrame
    examples: pd.DataFrame
    root: str
    n_failed: int = 0

    def output_dir(self) -> Path:
        """Where figures and the report go by default: beside the tables, or ./<sweep>-analysis
        when the tables live on object storage."""
        if storage.is_local(self.root):
            return Path(self.root) / "analysis"
        return Path(f"{self.root.rstrip('/').rsplit('/', 1)[-1]}-analysis")


def example_column_wanted(name: str) -> bool:
    """Example-table columns the analysis reads; the rest (labels, losses, ...) stay on disk."""
    return name in EXAMPLE_COLUMNS or name.startswith(DIST_PREFIX)


def _frame(table: pa.Table) -> pd.DataFrame:
    df = table.to_pandas()
    # Hive partition keys come back as categoricals; analysis wants plain values.
    for col in df.columns:
        if isinstance(df[col].dtype, pd.CategoricalDtype):
            df[col] = df[col].astype(df[col].cat.categories.dtype)
    return df


def load_tables(path: str | Path) -> Tables:
    """Load trials (status ok only) and examples (of ok trials) from a results directory (local
    or a URI), through the library's reader (raysweep.results.reader)."""
    tables_dir = reader.tables_dir(str(path))
    trials = _frame(reader.read_kind(tables_dir, "trials"))
    if trials.empty:
        raise UserError(f"no trial rows under {(tables_dir / 'trials').uri!r}; run the sweep first (raysweep sweep SPEC)")
    n_failed = 0
    if STATUS in trials.columns:
        ok = trials[STATUS] == STATUS_OK
        n_failed = int((~ok).sum())
        trials = trials[ok].reset_index(drop=True)
    examples = _frame(reader.read_kind(tables_dir, "examples", example_column_wanted))
    if not examples.empty and TRIAL_ID in examples.columns and TRIAL_ID in trials.columns:
        examples = examples[examples[TRIAL_ID].isin(trials[TRIAL_ID])].reset_index(drop=True)
    return Tables(trials, examples, tables_dir.parent.uri, n_failed)


# Columns that, beside the grid point, say which spec version produced a row.
VERSION_PREFIXES = ("train.", "strategy.")
VERSION_COLUMNS = ("dataset_options", S.DATA_HASH, S.RESULTS_VERSION, "manifolds_json")


def spec_versions(trials: pd.DataFrame) -> list[str]:
    """Columns that differ between rows of one grid point (strategy, arch, N, seed): the folder
    holds rows of more than one spec version, which analysis would otherwise pool silently."""
    keys = [c for c in (STRATEGY, ARCH, N, SEED) if c in trials.columns]
    config = [c for c in trials.columns if c.startswith(VERSION_PREFIXES) or c in VERSION_COLUMNS]
    if not keys or trials.empty:
        return []
    text = trials[keys + config].astype(str)
    counts = text.groupby(keys)[config].nunique() if config else pd.DataFrame()
    differing = [c for c in config if (counts[c] > 1).any()]
    if not differing and trials.groupby(keys).size().max() > 1:
        return [TRIAL_ID]  # the same grid point twice under ids that no config column explains
    return differing


def select(tables: Tables, arch: Optional[str] = None, dataset: Optional[str] = None) -> Tables:
    """Only the trials (and their examples) of one architecture and/or dataset."""
    trials, examples = tables.trials, tables.examples
    for col, value in ((ARCH, arch), (DATASET, dataset)):
        if value is None:
            continue
        if col not in trials.columns or not (trials[col] == value).any():
            known = ", ".join(sorted(set(trials[col].dropna().astype(str)))) if col in trials.columns else "none"
            raise UserError(f"no trials with {col} {value!r}; choose one of: {known}")
        trials = trials[trials[col] == value]
        if col in examples.columns:
            examples = examples[examples[col] == value]
    return Tables(trials.reset_index(drop=True), examples.reset_index(drop=True), tables.root, tables.n_failed)


# --- views over the tables ---------------------------------------------------------------------
def attack_names(trials: pd.DataFrame) -> dict[str, str]:
    """Attack column prefix (the spec's label, default the attack name) -> registered attack name.

    The rows carry it (`<label>.attack`, written by the trial); tables without those columns fall
    back to each trial's config_json, and a prefix found in neither maps to itself."""
    suffix = success_col("")  # ".success_rate_attempt"
    names = {c[: -len(suffix)]: c[: -len(suffix)] for c in trials.columns if c.endswith(suffix)}
    carried = {k: attack_column(k, S.ATTACK) for k in names if attack_column(k, S.ATTACK) in trials.columns}
    for k, col in carried.items():
        values = trials[col].dropna()
        if len(values):
            names[k] = str(values.iloc[0])
    if len(carried) < len(names):
        for a in config_attacks(trials):
            names[a.get("label") or a["name"]] = a["name"]
    return names


def config_attacks(trials: pd.DataFrame) -> list[dict]:
    """The `evaluate.attacks` entries of every distinct config_json in the trial table."""
    out = []
    for blob in trials[CONFIG_JSON].dropna().unique() if CONFIG_JSON in trials.columns else []:
        try:
            attacks = json.loads(blob).get("evaluate", {}).get("attacks", [])
        except (json.JSONDecodeError, AttributeError):
            continue
        out += [a for a in attacks if isinstance(a, dict) and "name" in a]
    return out


def attack_family(name: str) -> Optional[str]:
    """The registered family of an attack name; None for a name no registry here knows."""
    # lazy: the registries import torch (about 3 s, measured); reading tables needs none
    from raysweep.attacks import ATTACKS

    return ATTACKS.get(name).family if name in ATTACKS else None


def strategy_family(name: str) -> Optional[str]:
    from raysweep.training.strategies import STRATEGIES  # lazy: torch-free table reading (load.attack_family)

    return STRATEGIES.get(name).family if name in STRATEGIES else None


def order_attacks(keys: set[str], names: dict[str, str], family: str) -> list[str]:
    """Keys whose attack is of `family`: the paper's attacks first, the bare name before labels."""
    chosen = [k for k in keys if attack_family(names.get(k, k)) == family]

    def rank(k: str) -> tuple:
        name = names.get(k, k)
        pref = PREFERRED_ATTACKS.index(name) if name in PREFERRED_ATTACKS else len(PREFERRED_ATTACKS)
        return (pref, name, k != name, k)

    return sorted(chosen, key=rank)


def attacks_in(trials: pd.DataFrame, family: str) -> list[str]:
    """Attack keys (column prefixes) of one family with a success rate in the trial table."""
    names = attack_names(trials)
    keys = {k for k in names if success_col(k) in trials.columns and trials[success_col(k)].notna().any()}
    return order_attacks(keys, names, family)


def example_attacks_in(examples: pd.DataFrame, trials: pd.DataFrame, family: str) -> list[str]:
    """Attack keys of one family present in the example table."""
    if examples.empty or ATTACK not in examples.columns:
        return []
    return order_attacks(set(examples[ATTACK].dropna().astype(str)), attack_names(trials), family)


def ratio_attacks_in(trials: pd.DataFrame, distance: str, family: str) -> list[str]:
    """Attack keys of one family with a `<distance>.<key>.median_ratio` column holding values."""
    head, tail = f"{distance}.", "." + median_ratio_col("", "").rsplit(".", 1)[1]
    keys = {c[len(head):-len(tail)] for c in trials.columns
            if c.startswith(head) and c.endswith(tail) and trials[c].notna().any()}
    return order_attacks(keys, attack_names(trials), family)


def strategies_of_family(trials: pd.DataFrame, family: str) -> list[str]:
    """Strategies in the trial table whose registered family is `family`, sorted."""
    return [s for s in strategies_in(trials) if strategy_family(s) == family]


def distances_in(examples: pd.DataFrame) -> list[str]:
    """Distance methods with measured values in the example table, preferred method first."""
    found = [c[len(DIST_PREFIX):] for c in examples.columns if c.startswith(DIST_PREFIX) and examples[c].notna().any()]
    return sorted(found, key=lambda d: (DISTANCE_PREFERENCE.index(d) if d in DISTANCE_PREFERENCE else len(DISTANCE_PREFERENCE), d))


def strategies_in(trials: pd.DataFrame) -> list[str]:
    """Strategies in the trial table, normal first, then sorted."""
    if STRATEGY not in trials.columns:
        return []
    names = sorted(set(trials[STRATEGY].dropna().astype(str)))
    return sorted(names, key=lambda s: (s != NORMAL, s))


def has_columns(df: pd.DataFrame, *cols: str) -> bool:
    """True when every column exists and holds at least one value."""
    return all(c in df.columns and df[c].notna().any() for c in cols)


def mean_std_by_n(trials: pd.DataFrame, value: str) -> pd.DataFrame:
    """Mean, std and count of a trial metric over seeds, per (strategy, N); std 0 for one seed."""
    df = trials[[STRATEGY, N, value]].dropna()
    g = df.groupby([STRATEGY, N])[value]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out.sort_values([STRATEGY, N]).reset_index(drop=True)


def attacked_examples(examples: pd.DataFrame, attack: str) -> pd.DataFrame:
    """Successful attempts on correctly classified, valid samples: the ones distances describe."""
    if examples.empty or ATTACK not in examples.columns:
        return examples.iloc[0:0]
    rows = examples[ATTACK] == attack
    for flag in (SUCCESS, CORRECT, VALID):
        if flag in examples.columns:
            rows &= examples[flag].astype(bool)
    return examples[rows]


def distance_values(examples: pd.DataFrame, attack: str, distance: str, relative: bool = True) -> np.ndarray:
    """Finite distances to the manifold of successful examples; relative = divided by ||delta||_2."""
    col = dist_col(distance)
    ex = attacked_examples(examples, attack)
    if col not in ex.columns or ex.empty:
        return np.empty(0)
    dist = ex[col].to_numpy(dtype=float)
    if relative:
        norm_col = DELTA_L2 if DELTA_L2 in ex.columns else IMAGE_L2
        if norm_col not in ex.columns:
            return np.empty(0)
        norm = ex[norm_col].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = np.where(norm > 0, dist / norm, np.nan)
    return dist[np.isfinite(dist)]
