"""The VAE-GAN's configuration and the paper's constants (supplement B.2).

`VAEGANConfig` holds everything that decides a training run; `for_dataset` fills the paper's
schedule (in steps: raysweep.vaegan.schedule) and lambda per data set (and per class where the
paper tuned it), the image shape from the data set itself, then a spec's overrides
(`manifolds.options.vaegan`), whose keys are checked here, once, at load (raysweep.resolve.validate).

A data set the paper did not use (a plugin's, a researcher's own) has no paper schedule or lambda:
it gets DEFAULT_EPOCHS passes over a class's images and DEFAULT_LAMBDA, the paper's value for
FONTS and CelebA and its class-agnostic one for EMNIST (the paper's own range is 2.25 to 5.6).
A spec's `vaegan: {lam, steps, epochs}` and a `raysweep tune-lambda` table replace them.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping, Optional

from raysweep._core.errors import UserError
from raysweep._core.params import check_keys, known_names, typed
from raysweep.vaegan.network import VAEGANArch

# Epochs per data set and the paper's hand-tuned lambda (supplement B.2).
PAPER_EPOCHS = {"fonts": 10, "emnist": 30, "fmnist": 60, "celeba": 30}
PAPER_LAMBDA = {"fonts": 3.0, "emnist": 2.5, "fmnist": 2.75, "celeba": 3.0}
PAPER_LAMBDA_CLASS = {("emnist", 0): 2.75, ("emnist", 1): 5.6, ("emnist", 8): 2.25}
PAPER_LAMBDA_AGNOSTIC = {"fonts": 3.0, "emnist": 3.0, "fmnist": 2.75, "celeba": 3.0}
# Training images of the paper's data sets (Sec. 3.1, reference-implementation.md), 10 balanced
# classes each: what one paper epoch passed over. CelebA is absent: raysweep reads all of it, as
# the paper did, and its two classes are unbalanced, so its epochs stay passes over a class's images.
PAPER_TRAIN_IMAGES = {"fonts": 960_000, "emnist": 240_000, "fmnist": 60_000}
PAPER_CLASSES = 10
# A data set the paper did not use: 30 passes over a class's images (the paper's EMNIST and CelebA
# count; F-MNIST's 60 passes over 6,000 images are 3,600 steps) and lambda 3.
DEFAULT_EPOCHS = 30
DEFAULT_LAMBDA = 3.0


def paper_steps_per_epoch(dataset: str, cls: Optional[int], batch_size: int) -> Optional[int]:
    """Steps of one paper epoch: a class's share of the paper's images (all of them for the
    class-agnostic model, cls None) in batches; None where epochs stay passes (CelebA)."""
    total = PAPER_TRAIN_IMAGES.get(dataset)
    if total is None:
        return None
    return math.ceil((total if cls is None else total // PAPER_CLASSES) / batch_size)


def paper_lambda(dataset: str, cls: Optional[int] = None) -> Optional[float]:
    """The paper's lambda for a class-specific model (cls given) or the class-agnostic one; None
    for a data set the paper did not use."""
    if dataset not in PAPER_LAMBDA:
        return None
    if cls is None:
        return PAPER_LAMBDA_AGNOSTIC[dataset]
    return PAPER_LAMBDA_CLASS.get((dataset, int(cls)), PAPER_LAMBDA[dataset])


def default_lambda(dataset: str, cls: Optional[int] = None) -> float:
    """The lambda a model trains with when neither a lambda table nor the spec names one: the
    paper's, or DEFAULT_LAMBDA on a data set the paper did not use."""
    lam = paper_lambda(dataset, cls)
    return DEFAULT_LAMBDA if lam is None else lam


@dataclass(frozen=True)
class VAEGANConfig:
    """Everything that determines a VAE-GAN training run (defaults: supplement B.2, FONTS)."""

    in_shape: tuple[int, int, int] = (1, 28, 28)
    latent_dim: int = 10
    width: float = 1.0  # channel multiplier; smoke runs use e.g. 0.25
    lam: float = 3.0  # weight of the L1 reconstruction term (Eq. 7, 8)
    epochs: int = 10  # epochs of steps_per_epoch steps; passes over the images when that is None
    steps: Optional[int] = None  # optimiser steps in all (None: epochs x steps_per_epoch)
    steps_per_epoch: Optional[int] = None  # the paper's epoch in steps (for_dataset fills it); None: one pass
    max_passes: float = 100.0  # a step schedule may show each image at most this often (the paper: 10-60)
    batch_size: int = 100
    lr: float = 0.005
    lr_decay: float = 0.9  # lr * lr_decay**epoch, per epoch (raysweep.vaegan.schedule)
    weight_decay: float = 1e-4  # Adam's own (L2) weight decay, as the authors used it
    betas: tuple[float, float] = (0.5, 0.9)
    restarts: int = 2  # retrainings (next seed) of a model whose posterior collapsed (raysweep.vaegan.collapse)

    @classmethod
    def for_dataset(cls, dataset: str, in_shape: tuple[int, int, int], klass: Optional[int] = None,
                    **overrides: Any) -> "VAEGANConfig":
        """The paper's settings for `dataset` (class-specific if `klass` is given) on images of the
        data set's own shape (Dataset.image_shape), then the spec's overrides (names and types
        checked). The paper's schedule is its steps (raysweep.vaegan.schedule); `epochs` set by a
        spec without `steps_per_epoch` counts passes over the images a job has, as it always did.
        A data set the paper did not use gets DEFAULT_EPOCHS passes and DEFAULT_LAMBDA (module
        docstring); `steps` set by its spec count steps with the lr decaying once a pass."""
        check_overrides(overrides)
        if "steps" in overrides and "epochs" in overrides:
            raise UserError("manifolds.options.vaegan sets both steps and epochs; give one: steps (optimiser "
                            "steps of the paper's schedule) or epochs (passes over the images)")
        base = cls(in_shape=tuple(in_shape), epochs=PAPER_EPOCHS.get(dataset, DEFAULT_EPOCHS),
                   lam=default_lambda(dataset, klass))
        cfg = typed(cls, {**base.to_dict(), **overrides}, "manifolds.options.vaegan")
        if "steps_per_epoch" in overrides or ("epochs" in overrides and "steps" not in overrides):
            return cfg
        return replace(cfg, steps_per_epoch=paper_steps_per_epoch(dataset, klass, cfg.batch_size))

    def __post_init__(self) -> None:
        for name in ("epochs", "steps", "steps_per_epoch", "batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserError(f"manifolds.options.vaegan: {name} must be at least 1, got {value}")

    def arch(self) -> VAEGANArch:
        return VAEGANArch(in_shape=tuple(self.in_shape), latent_dim=self.latent_dim, width=self.width)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["in_shape"], d["betas"] = list(self.in_shape), list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VAEGANConfig":
        """The config a checkpoint recorded; those written before steps existed trained passes."""
        return cls(**{**d, "in_shape": tuple(d["in_shape"]), "betas": tuple(d["betas"])})


# Keys a spec may override: the image shape always comes from the data set.
OVERRIDABLE = [k for k in known_names(VAEGANConfig) if k != "in_shape"]


def check_overrides(overrides: Mapping[str, Any]) -> None:
    """Unknown `manifolds.options.vaegan` keys are a UserError listing the known ones."""
    check_keys("manifolds.options.vaegan", overrides, OVERRIDABLE)
