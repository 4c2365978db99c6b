"""Classifiers (registry `MODELS`, `build_model`) and, beside them, the VAE-GAN."""
from raysweep.models.classifiers import MODELS, build_model

__all__ = ["MODELS", "build_model"]
