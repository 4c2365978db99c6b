"""raysweep: Ray sweeps that disentangle adversarial robustness and generalization.

A reimplementation, at scale, of Stutz, Hein and Schiele, "Disentangling Adversarial Robustness
and Generalization" (CVPR 2019).
"""
from raysweep._core.errors import UserError  # what a plugin raises for input its user can fix

__version__ = "0.1.0"
__all__ = ["UserError", "__version__"]
