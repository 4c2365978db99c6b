"""Training a VAE-GAN that approximates a class manifold (supplement B.2), without Ray.

Class-specific model: call `train_vaegan` on one class's images; class-agnostic: on all images.
The Tune trainable passes `on_epoch` to report and checkpoint, and `state` and `start_epoch` to
resume. The schedule is counted in optimiser steps (raysweep.vaegan.schedule); batch order and
noise are seeded per (seed, pass), so a resumed run draws exactly what an uninterrupted one draws.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Optional, Union

import torch

from raysweep.data.batch import Split
from raysweep._core.errors import UserError
from raysweep._core.tensors import cpu_copy
from raysweep.vaegan.config import VAEGANConfig
from raysweep.vaegan.losses import Optimisers, make_optimisers, train_step
from raysweep.vaegan.network import VAEGAN
from raysweep.vaegan.schedule import BatchStream, Schedule, schedule

OnEpoch = Callable[[int, dict[str, float], dict[str, Any]], None]
OnStep = Callable[[int], None]  # called with the steps done so far, after each step


def _images(data: Union[torch.Tensor, Split]) -> torch.Tensor:
    x = data.x if isinstance(data, Split) else data
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise UserError("VAE-GAN training needs images as a [N, C, H, W] tensor or a Split; pass split.x")
    if x.shape[0] == 0:
        raise UserError("VAE-GAN training got no images; check the class label and the data set")
    return x


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def build_vaegan(cfg: VAEGANConfig, seed: int) -> VAEGAN:
    """A freshly initialised VAE-GAN; the seed alone decides the weights (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return VAEGAN(cfg.arch())


def train_epoch(model: VAEGAN, opts: Optimisers, images: torch.Tensor, cfg: VAEGANConfig, sched: Schedule,
                epoch: int, stream: BatchStream, on_step: Optional[OnStep] = None) -> dict[str, float]:
    """The steps of one epoch of `sched` (an lr-decay period, raysweep.vaegan.schedule) on
    `images` (uint8 or float, on the model's device), batches and noise from `stream`;
    on_step(steps done) after every step (it reads nothing from the device).

    Returns the steps' mean losses, the epoch, its lr, steps done so far and images per second."""
    device = next(model.parameters()).device
    steps = sched.epoch_steps(epoch)
    lr = sched.lr(cfg.lr, cfg.lr_decay, steps.start)
    opts.set_lr(lr)
    model.train()
    sums: dict[str, torch.Tensor] = {}
    seen = 0
    start = time.perf_counter()
    for step in steps:
        idx, eps = stream.at(step)
        x = _as_float(images[idx.to(images.device)]).to(device)
        for k, v in train_step(model, opts, x, eps.to(device), cfg.lam).items():
            sums[k] = sums[k] + v if k in sums else v  # on the device: one host read per epoch
        seen += len(idx)
        if on_step is not None:
            on_step(step + 1)
    out = {k: float(v) / len(steps) for k, v in sums.items()}
    elapsed = time.perf_counter() - start  # after the read: a GPU's queue has drained
    bad = sorted(k for k, v in out.items() if not math.isfinite(v))
    if bad:
        raise UserError(f"VAE-GAN training diverged: {', '.join(bad)} became non-finite in epoch {epoch + 1} "
                        f"(lambda {cfg.lam}); lower the VAE-GAN lr (now {cfg.lr}) or lambda")
    out.update(epoch=float(epoch), lr=lr, steps=float(steps.stop), images_per_s=seen / max(elapsed, 1e-9))
    return out


def training_state(model: VAEGAN, opts: Optimisers, next_epoch: int) -> dict[str, Any]:
    """What a resumable checkpoint holds: model and optimiser state dicts (CPU copies, safe to
    keep while training goes on) and the next epoch."""
    return cpu_copy({
        "model": model.state_dict(),
        "opt_enc": opts.enc.state_dict(),
        "opt_dec": opts.dec.state_dict(),
        "opt_dis": opts.dis.state_dict(),
        "next_epoch": next_epoch,
    })


def train_vaegan(
    data: Union[torch.Tensor, Split],
    cfg: VAEGANConfig,
    *,
    seed: int,
    device: Union[torch.device, str] = "cpu",
    on_epoch: Optional[OnEpoch] = None,
    start_epoch: int = 0,
    state: Optional[dict[str, Any]] = None,
    on_step: Optional[OnStep] = None,
) -> tuple[VAEGAN, dict[str, float]]:
    """Train a VAE-GAN on `data` (uint8 images or a Split) for the epochs start_epoch .. of
    cfg's schedule on these images (raysweep.vaegan.schedule: the paper's steps, or passes).

    on_epoch(epoch, metrics, state) runs after every epoch; `state` (see `training_state`) is
    what to checkpoint and to pass back as `state` with start_epoch = state["next_epoch"] to
    resume. on_step(steps done) runs after every step (progress within a long epoch). Returns the model (train mode off) and the last epoch's metrics (`steps`: steps
    trained in all).
    """
    images = _images(data)
    if tuple(images.shape[1:]) != tuple(cfg.in_shape):
        raise UserError(
            f"VAE-GAN config expects images {tuple(cfg.in_shape)} but got {tuple(images.shape[1:])}; "
            "set in_shape (VAEGANConfig.for_dataset picks it per data set)"
        )
    sched = schedule(cfg, images.shape[0])  # before any work: too few images is a UserError
    device = torch.device(device)
    model = build_vaegan(cfg, seed).to(device)
    opts = make_optimisers(model, cfg)
    if state is not None:
        model.load_state_dict(state["model"])
        opts.enc.load_state_dict(state["opt_enc"])
        opts.dec.load_state_dict(state["opt_dec"])
        opts.dis.load_state_dict(state["opt_dis"])
    stream = BatchStream(images.shape[0], cfg.batch_size, cfg.latent_dim, seed)
    images = images.to(device)  # stays uint8 on the device; batches convert to float
    metrics: dict[str, float] = {}
    for epoch in range(start_epoch, sched.epochs):
        metrics = train_epoch(model, opts, images, cfg, sched, epoch, stream, on_step)
        if on_epoch is not None:
            on_epoch(epoch, metrics, training_state(model, opts, epoch + 1))
    model.eval()
    return model, metrics
