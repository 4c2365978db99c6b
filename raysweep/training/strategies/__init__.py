"""Importing this package registers every training strategy (one module per strategy)."""
from raysweep.training.strategies import normal  # noqa: F401
from raysweep.training.strategies import adversarial, augment, combined, onmanifold, transform_adversarial  # noqa: F401,E501
from raysweep.training.strategy import STRATEGIES

__all__ = ["STRATEGIES"]
