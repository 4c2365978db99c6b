"""Sweep specs: the schema (schema.py), its structure checks (parse.py) and its resolution into
typed trial configs with their ids (resolve.py). Registry checks live in raysweep.validate."""
from raysweep.config.parse import parse_spec
from raysweep.config.resolve import TrialConfig, expand
from raysweep.config.schema import SweepSpec

__all__ = ["SweepSpec", "TrialConfig", "expand", "parse_spec"]
