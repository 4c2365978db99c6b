"""Classifiers: the registry `MODELS` and `build_model` (the VAE-GAN lives in raysweep.vaegan)."""
from raysweep.models.classifiers import MODELS, build_model

__all__ = ["MODELS", "build_model"]
