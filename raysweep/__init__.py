"""raysweep: Ray sweeps that disentangle adversarial robustness and generalization.

A reimplementation, at scale, of Stutz, Hein and Schiele, "Disentangling Adversarial Robustness
and Generalization" (CVPR 2019).
"""
__version__ = "0.1.0"
