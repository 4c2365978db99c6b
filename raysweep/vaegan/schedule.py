"""The VAE-GAN's training schedule in optimiser steps (supplement B.2, read as steps).

The paper trains with batch 100 for 10 (FONTS), 30 (EMNIST, CelebA) or 60 (F-MNIST) epochs and
decays the lr by 0.9 per epoch. Its epochs are passes over its data sets: 96,000 FONTS images a
class (960 steps an epoch, 9,600 steps in all), 24,000 EMNIST digits (240, 7,200) and 6,000
F-MNIST images (60, 3,600). Counting epochs as passes over whatever images a run has would make a
smaller data set silently a fraction of that training (the bundled fonts' 2,208 images a class:
220 steps instead of 9,600), so by default a VAE-GAN trains the paper's steps and its lr decays
once per paper-sized epoch (raysweep.vaegan.config.for_dataset fills both). A spec that sets
`epochs` keeps the older meaning, passes over the images it has; one that sets `steps` trains
that many steps of the paper's schedule.

Batches: pass p over the images uses the order randperm(n) of a generator seeded by (seed, p)
and draws the reparameterisation noise from the same generator, batch after batch, so step s has
the same batch and noise whether or not the run was resumed, and a schedule of whole passes
(steps_per_epoch unset) reproduces the per-epoch loop this replaced exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from raysweep._core.errors import UserError


@dataclass(frozen=True)
class Schedule:
    """A run's steps: `steps` in all, the lr decaying after every `steps_per_epoch` of them (an
    "epoch": the unit of progress, checkpoints and resumes), over images in passes of
    `batches_per_pass` batches."""

    steps: int
    steps_per_epoch: int
    batches_per_pass: int

    @property
    def epochs(self) -> int:
        return math.ceil(self.steps / self.steps_per_epoch)

    @property
    def passes(self) -> float:
        """How often each image is seen (in expectation: a last pass may be partial)."""
        return self.steps / self.batches_per_pass

    def lr(self, base: float, decay: float, step: int) -> float:
        """lr at `step`: base * decay ** (completed epochs), constant within an epoch."""
        return base * decay ** (step // self.steps_per_epoch)

    def epoch_steps(self, epoch: int) -> range:
        return range(epoch * self.steps_per_epoch, min((epoch + 1) * self.steps_per_epoch, self.steps))


def schedule(cfg, n_images: int, what: str = "the images") -> Schedule:
    """The schedule of `cfg` (a VAEGANConfig) on n_images images; `what` names them in errors.

    A step schedule (steps or steps_per_epoch set) needs at least one full batch and at most
    cfg.max_passes passes over the images: fewer images repeat each one more often than the paper
    did (10 to 60 times), which trains a different model, and that is a UserError naming the fix."""
    bpp = math.ceil(n_images / cfg.batch_size)
    if cfg.steps is None and cfg.steps_per_epoch is None:  # epochs are passes over these images
        return Schedule(cfg.epochs * bpp, bpp, bpp)
    sched = Schedule(cfg.steps if cfg.steps is not None else cfg.epochs * cfg.steps_per_epoch,
                     cfg.steps_per_epoch or bpp, bpp)
    if n_images < cfg.batch_size or sched.passes > cfg.max_passes:
        raise UserError(
            f"{what} hold {n_images} images: {sched.steps} steps of batch {cfg.batch_size} would show each one "
            f"{sched.passes:.0f} times (at most max_passes={cfg.max_passes:g}); use more images (a larger "
            f"data set or train_size), or set fewer `steps` (or `epochs`, passes over the images) in the VAE-GAN options")
    return sched


class BatchStream:
    """Row indices and noise of each step (see the module docstring); steps are read in order,
    a jump (a resume mid-pass) replays the pass's generator up to that step."""

    def __init__(self, n_images: int, batch_size: int, latent_dim: int, seed: int):
        self.n, self.batch, self.latent, self.seed = n_images, batch_size, latent_dim, int(seed)
        self.bpp = math.ceil(n_images / batch_size)
        self._pass, self._next = -1, 0
        self._gen: Optional[torch.Generator] = None
        self._order = torch.empty(0, dtype=torch.long)

    def _start(self, p: int) -> None:
        self._gen = torch.Generator().manual_seed(self.seed * 1_000_003 + p)  # the per-epoch seed it replaced
        self._order = torch.randperm(self.n, generator=self._gen)
        self._pass, self._next = p, 0

    def at(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(row indices [b], noise [b, latent]) of `step` (b = batch size; less at a pass's end)."""
        p, i = divmod(step, self.bpp)
        if p != self._pass or i < self._next:
            self._start(p)
        while self._next <= i:
            idx = self._order[self._next * self.batch:(self._next + 1) * self.batch]
            eps = torch.randn(len(idx), self.latent, generator=self._gen)
            self._next += 1
        return idx, eps
