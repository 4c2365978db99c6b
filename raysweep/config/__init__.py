"""Sweep specs: the typed, validated description of a study (raysweep.config.spec)."""
from raysweep.config.spec import SweepSpec, TrialConfig, expand, load_spec, parse_spec

__all__ = ["SweepSpec", "TrialConfig", "expand", "load_spec", "parse_spec"]
