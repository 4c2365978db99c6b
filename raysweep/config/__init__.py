"""Sweep specs: the schema (schema.py), its structure checks (parse.py) and the typed config of
one resolved trial with its id (trial_config.py). Registry checks and the grid's resolution into
trials live in raysweep.resolve."""
from raysweep.config.parse import parse_spec
from raysweep.config.schema import SweepSpec
from raysweep.config.trial_config import TrialConfig

__all__ = ["SweepSpec", "TrialConfig", "parse_spec"]
