"""The names of the trial and example tables' spec-dependent columns, built in one place.

A trial row carries one block of columns per attack (`<attack>.<metric>`, the metric an
AttackResult.metrics() key, a min-eps summary or `attack` / `family`), one per distance
measurement (`<method>.<attack>.<metric>`), one column per strategy parameter
(`strategy.<param>`) and per training setting (`train.<field>`); an example row carries one
distance column per method (`dist_<method>`). The trial writes these names, the schema declares
them, the evaluate command reads them back and analysis selects by them: each through the
builders here.
"""
from __future__ import annotations

from raysweep.results.schema import DIST_PREFIX


def attack_column(attack: str, metric: str) -> str:
    """`<attack>.<metric>`, e.g. linf.success_rate_attempt (attack: the spec's key, its label or name)."""
    return f"{attack}.{metric}"


def distance_column(method: str, attack: str, metric: str) -> str:
    """`<method>.<attack>.<metric>`, e.g. true.linf.median_ratio."""
    return f"{method}.{attack}.{metric}"


def strategy_column(param: str) -> str:
    """`strategy.<param>`: one strategy parameter, flattened."""
    return f"strategy.{param}"


def train_column(field: str) -> str:
    """`train.<field>`: one training setting (raysweep.config.schema.TrainSpec)."""
    return f"train.{field}"


def example_distance_column(method: str) -> str:
    """`dist_<method>`: an example's distance to the manifold measured by `method`."""
    return f"{DIST_PREFIX}{method}"


def attacks_with(columns, metric: str) -> list[str]:
    """The attack keys that have a `<attack>.<metric>` column among `columns`, in their order."""
    suffix = attack_column("", metric)
    return [c[: -len(suffix)] for c in columns if c.endswith(suffix)]
