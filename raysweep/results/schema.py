"""Arrow schemas of the two result tables, declared once and versioned (docs/architecture.md).

trials:   one row per trial. Fixed columns plus columns that follow from the sweep spec
          (strategy parameters, one block per attack, one block per distance); every file of a
          sweep uses the same schema so pandas.read_parquet(dir) and pyarrow.dataset see all
          columns of every row.
examples: one row per (attacked sample, restart), a fixed schema.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Optional

import pyarrow as pa

from raysweep.results.columns import with_docs

if TYPE_CHECKING:
    from raysweep.config.schema import SweepSpec

SCHEMA_VERSION = 1

# Layout under <storage>/<sweep>/: tables/<kind>/<trial_id>.parquet
TABLES = "tables"
KINDS = ("trials", "examples", "manifolds", "epochs")  # manifolds: one row per learned VAE-GAN

# Column names every reader uses (raysweep/analysis/load.py imports these instead of spelling them).
SWEEP, TRIAL_ID, STATUS, ERROR = "sweep", "trial_id", "status", "error"
STATUS_OK, STATUS_FAILED = "ok", "failed"
DATASET, N, SEED, ARCH, STRATEGY, STRATEGY_FAMILY = "dataset", "n", "seed", "arch", "strategy", "strategy_family"
TEST_ERROR, TRAIN_TIME, EVAL_TIME = "test_error", "train_time_s", "eval_time_s"
CLEAN_ACC, ROBUST_ACC, ROBUST_WORST = "clean_acc", "robust_acc", "robust_acc_worst"  # trial and per-attack
STARTED_AT, FINISHED_AT, CONFIG_JSON = "started_at", "finished_at", "config_json"
DATA_HASH, RESULTS_VERSION = "data_hash", "results_version"
ATTACK, SUCCESS, CORRECT, VALID, DELTA_L2, IMAGE_L2 = "attack", "success", "correct", "valid", "delta_l2", "l2"
DIST_PREFIX = "dist_"

# Per attack: AttackResult.metrics() keys (the authors' per-attempt rate and ours, any-restart).
ATTACK_METRICS: dict[str, pa.DataType] = {
    "success_rate_attempt": pa.float64(), "success_rate_any": pa.float64(),
    "mean_linf": pa.float64(), "mean_l2": pa.float64(), "mean_l1": pa.float64(),
    "n_samples": pa.int64(), "n_correct": pa.int64(), "n_excluded": pa.int64(),
    "clean_acc": pa.float64(), "robust_acc": pa.float64(),
    "n_outside_bound": pa.int64(), "n_clamped": pa.int64(),  # latent attacks: codes outside [-2,2]^d
}
# Per attack with `min_eps_steps` (raysweep.attacks.min_eps): each correctly classified sample's
# smallest successful eps, bisected with APGD, summarised (censored at the attack's eps as eps).
MIN_EPS_METRICS: dict[str, pa.DataType] = {
    "median_min_eps": pa.float64(), "mean_min_eps": pa.float64(), "n_censored": pa.int64(),
}
# Per attack: which registered attack the label names and its family (raysweep._core.registry), so
# analysis groups by family without knowing attack names or parsing config_json.
ATTACK_INFO: dict[str, pa.DataType] = {"attack": pa.string(), "family": pa.string()}
# Per distance (<method>.<attack>): summaries of ||x_adv - pi(x_adv)||_2 over measured pairs.
DISTANCE_METRICS: dict[str, pa.DataType] = {
    "n": pa.int64(), "mean_dist": pa.float64(), "median_dist": pa.float64(),
    "mean_delta_l2": pa.float64(), "median_ratio": pa.float64(),
}

TRIAL_BASE = with_docs(pa.schema([
    (SWEEP, pa.string()), (TRIAL_ID, pa.string()), (STATUS, pa.string()), (ERROR, pa.string()),
    (DATASET, pa.string()), ("dataset_options", pa.string()), (N, pa.int64()), (SEED, pa.int64()),
    (ARCH, pa.string()), (STRATEGY, pa.string()), ("strategy_name", pa.string()), (STRATEGY_FAMILY, pa.string()),
    ("train.epochs", pa.int64()), ("train.batch_size", pa.int64()), ("train.lr", pa.float64()),
    ("train.lr_decay", pa.float64()), ("train.weight_decay", pa.float64()),
    (CONFIG_JSON, pa.string()),  # the whole resolved TrialConfig, for anything not a column
    # what the trial id is made of besides the config columns (raysweep.config.trial_config)
    (DATA_HASH, pa.string()), (RESULTS_VERSION, pa.int64()), ("manifolds_json", pa.string()),
    (TEST_ERROR, pa.float64()), ("train_error", pa.float64()), (CLEAN_ACC, pa.float64()), (ROBUST_WORST, pa.float64()),
    (TRAIN_TIME, pa.float64()), (EVAL_TIME, pa.float64()),
    ("curve_time_s", pa.float64()),  # the per-epoch learning-curve test error's own time (training.epoch_log)
    (STARTED_AT, pa.float64()), (FINISHED_AT, pa.float64()),  # unix seconds, for scheduling checks
    ("device", pa.string()), ("node_ip", pa.string()), ("gpu_ids", pa.string()), ("resumed_from_epoch", pa.int64()),
    ("raysweep_version", pa.string()), ("git_commit", pa.string()), ("schema_version", pa.int64()),
]), "trials")

EXAMPLE_RECORD_COLUMNS: dict[str, pa.DataType] = {
    "sample": pa.int64(), "restart": pa.int64(), "label": pa.int64(), "clean_pred": pa.int64(),
    "adv_pred": pa.int64(), "correct": pa.bool_(), "valid": pa.bool_(), "success": pa.bool_(),
    "first_success_iter": pa.int64(), "linf": pa.float64(), "l2": pa.float64(), "l1": pa.float64(),
    "latent_norm": pa.float64(), "loss": pa.float64(), "outside_bound": pa.bool_(),
}
DISTANCE_METHODS = ("true", "knn", "class", "data")  # DISTANCES names

EXAMPLE_SCHEMA = with_docs(pa.schema(
    [("sweep", pa.string()), ("trial_id", pa.string()), ("n", pa.int64()), ("seed", pa.int64()),
     ("strategy", pa.string()), ("arch", pa.string()), ("attack", pa.string())]
    + list(EXAMPLE_RECORD_COLUMNS.items())
    + [("delta_l2", pa.float64())] + [(f"dist_{m}", pa.float64()) for m in DISTANCE_METHODS]
    + [("schema_version", pa.int64())]
), "examples")


def _param_type(values: Iterable[Any]) -> pa.DataType:
    """One Arrow type for a strategy parameter across strategies (JSON text when mixed)."""
    vals = [v for v in values if v is not None]
    if vals and all(isinstance(v, bool) for v in vals):
        return pa.bool_()
    if vals and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        return pa.float64()
    return pa.string()


def strategy_param_types(spec: "SweepSpec") -> dict[str, pa.DataType]:
    keys: dict[str, list[Any]] = {}
    for s in spec.strategies:
        for k, v in s.params.items():
            keys.setdefault(k, []).append(v)
    return {f"strategy.{k}": _param_type(v) for k, v in sorted(keys.items())}


# Declared Python types of strategy parameters (dataclass annotations) -> Arrow types.
DECLARED_TYPES = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}


def declared_type(annotation: str) -> pa.DataType:
    """'Optional[float]' -> float64; anything not a plain scalar is JSON text."""
    base = annotation.removeprefix("Optional[").removesuffix("]") if annotation.startswith("Optional[") else annotation
    return DECLARED_TYPES.get(base, pa.string())


def trial_schema(spec: "SweepSpec", param_types: Optional[dict[str, str]] = None) -> pa.Schema:
    """The trial table schema of one sweep: base columns + strategy params + attacks (with their
    min-eps columns where asked) + distances.

    param_types (raysweep.resolve.validate.strategy_param_types) are the parameters' declared types, so
    every file of a sweep types a column alike whatever values its trial saw; without them the
    types follow the spec's values."""
    fields = list(TRIAL_BASE)
    if param_types is not None:
        fields += [pa.field(k, declared_type(t)) for k, t in sorted(param_types.items())]
    else:
        fields += [pa.field(k, t) for k, t in strategy_param_types(spec).items()]
    for a in spec.evaluate.attacks:
        fields += [pa.field(f"{a.key}.{m}", t) for m, t in {**ATTACK_INFO, **ATTACK_METRICS}.items()]
        if a.min_eps_steps:
            fields += [pa.field(f"{a.key}.{m}", t) for m, t in MIN_EPS_METRICS.items()]
    for d in spec.evaluate.distances:
        fields += [pa.field(f"{d.key}.{m}", t) for m, t in DISTANCE_METRICS.items()]
    return with_docs(pa.schema(fields, metadata={"schema_version": str(SCHEMA_VERSION)}), "trials")


def _coerce(value: Any, typ: pa.DataType) -> Any:
    import json

    if value is None:
        return None
    if pa.types.is_string(typ) and not isinstance(value, str):
        return json.dumps(value, sort_keys=True, default=str)
    if pa.types.is_floating(typ):
        return float(value)
    if pa.types.is_integer(typ):
        return int(value)
    return value


def trial_table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows (dicts) -> a table with exactly `schema`; missing keys become nulls, unknown keys fail."""
    names = set(schema.names)
    for r in rows:
        extra = set(r) - names
        if extra:
            raise ValueError(f"trial row has columns not in the schema: {sorted(extra)}")
    cols = {f.name: [_coerce(r.get(f.name), f.type) for r in rows] for f in schema}
    return pa.table(cols, schema=schema)


def example_table(columns: dict[str, Any], n_rows: int) -> pa.Table:
    """Column arrays or scalars (broadcast) -> a table with EXAMPLE_SCHEMA; absent distances are NaN."""
    import numpy as np

    cols = {}
    for f in EXAMPLE_SCHEMA:
        v = columns.get(f.name)
        if v is None:
            v = np.full(n_rows, np.nan) if pa.types.is_floating(f.type) else [None] * n_rows
        elif np.isscalar(v) or isinstance(v, str):
            v = [v] * n_rows
        cols[f.name] = pa.array(np.asarray(v).tolist() if not isinstance(v, list) else v, type=f.type)
    return pa.table(cols, schema=EXAMPLE_SCHEMA)


# One row per trial and training epoch (raysweep.training.epoch_log): the learning curves. `epoch`
# The perturbed half of adversarial training, per epoch (raysweep.training.perturbed_log).
PERTURBED_COLUMNS = ("adv_success", "adv_loss", "adv_start_success", "adv_start_loss", "adv_drift_l2", "adv_delta_l2")

# counts from 1; `test_error` is measured on a fixed sample of EPOCH_TEST_SAMPLES test images (the
# same for every trial), `train_error` on the clean training batches as they were trained on.
EPOCH_SCHEMA = with_docs(pa.schema([
    ("sweep", pa.string()), ("trial_id", pa.string()), ("strategy", pa.string()), ("arch", pa.string()),
    ("n", pa.int64()), ("seed", pa.int64()), ("epoch", pa.int64()), ("train_loss", pa.float64()),
    ("train_error", pa.float64()), ("test_error", pa.float64()), ("lr", pa.float64()),
    ("epoch_time_s", pa.float64()), ("images_per_s", pa.float64()),
    # the perturbed half of adversarial training (raysweep.training.perturbed_log); null for
    # strategies without one and for fused packs, which craft for all models at once
    *[(name, pa.float64()) for name in PERTURBED_COLUMNS],
    ("schema_version", pa.int64()),
], metadata={"schema_version": str(SCHEMA_VERSION)}), "epochs")


def epoch_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Epoch rows (dicts; extra keys ignored) -> a table with EPOCH_SCHEMA."""
    cols = {f.name: [_coerce(r.get(f.name), f.type) for r in rows] for f in EPOCH_SCHEMA}
    return pa.table(cols, schema=EPOCH_SCHEMA)


# One row per learned manifold model (class VAE-GAN, or the class-agnostic one with class -1):
# how well it approximates its manifold (raysweep.manifold.quality), so the report can
# say when a claim rests on manifolds too crude to support it. Written once per sweep and data
# set under tables/manifolds/<dataset key>.parquet.
MANIFOLD_SCHEMA = with_docs(pa.schema([
    ("sweep", pa.string()), ("dataset", pa.string()), ("dataset_options", pa.string()),
    ("kind", pa.string()), ("class", pa.int64()), ("job_key", pa.string()), ("lam", pa.float64()),
    ("width", pa.float64()), ("epochs", pa.int64()), ("steps", pa.int64()), ("n_images", pa.int64()),
    ("recon_l1", pa.float64()), ("inside_bound", pa.float64()), ("mu_abs_max_median", pa.float64()),
    ("recon_acc", pa.float64()), ("clean_acc", pa.float64()), ("clamped_acc", pa.float64()), ("frechet", pa.float64()),
    ("latent_step_l2", pa.float64()), ("usable_share", pa.float64()),
    # posterior-collapse restarts (raysweep.vaegan.collapse): trainings it took, and the kept one's
    # reconstruction diversity on its training images (null for models trained before the check)
    ("attempts", pa.int64()), ("diversity", pa.float64()),
    ("reference", pa.string()),  # the normally trained classifier the accuracies and features use
    ("below", pa.string()),  # comma-separated measures below their documented threshold ("" if none)
    ("schema_version", pa.int64()),
], metadata={"schema_version": str(SCHEMA_VERSION)}), "manifolds")


def manifold_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Quality rows (dicts; extra keys ignored) -> a table with MANIFOLD_SCHEMA."""
    cols = {f.name: [_coerce(r.get(f.name, SCHEMA_VERSION if f.name == "schema_version" else None), f.type)
                     for r in rows] for f in MANIFOLD_SCHEMA}
    return pa.table(cols, schema=MANIFOLD_SCHEMA)
