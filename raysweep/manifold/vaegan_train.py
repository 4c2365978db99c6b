"""Training and checkpoints of VAE-GANs that approximate class manifolds (supplement B.2).

Losses (Eq. 7-9; sums over the batch, one reparameterised sample of q(z|x)):
  encoder:       KL(q(z|x) || N(0, I)) + lambda * ||x - dec(z)||_1 - log dis(dec(z))
  decoder:       lambda * ||x - dec(z)||_1 - log dis(dec(z))
  discriminator: -log dis(x) - log(1 - dis(dec(z)))
The encoder's GAN term follows the authors' code (Eq. 7 omits it; minimising the sum of the three
losses, as the paper says, also sends it to the encoder). Each loss is computed on its own graph:
the authors' order (backward with retain_graph after earlier optimiser steps) fails on current
PyTorch because the steps modify tensors the retained graph still needs.

Class-specific model: call `train_vaegan` on one class's images; class-agnostic: on all images.
No Ray here: the Tune trainable passes `on_epoch` to report and checkpoint, and `state` and
`start_epoch` to resume.
"""
from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch
import torch.nn.functional as F

from raysweep.data.batch import Split
from raysweep.errors import UserError
from raysweep.tensors import cpu_copy
from raysweep.models.vaegan import VAEGAN, VAEGANArch

# Epochs per data set and the paper's hand-tuned lambda (supplement B.2).
PAPER_EPOCHS = {"fonts": 10, "emnist": 30, "fmnist": 60, "celeba": 30}
PAPER_LAMBDA = {"fonts": 3.0, "emnist": 2.5, "fmnist": 2.75, "celeba": 3.0}
PAPER_LAMBDA_CLASS = {("emnist", 0): 2.75, ("emnist", 1): 5.6, ("emnist", 8): 2.25}
PAPER_LAMBDA_AGNOSTIC = {"fonts": 3.0, "emnist": 3.0, "fmnist": 2.75, "celeba": 3.0}
IMAGE_SHAPES = {"fonts": (1, 28, 28), "emnist": (1, 28, 28), "fmnist": (1, 28, 28), "celeba": (3, 56, 48)}

CHECKPOINT_FORMAT = 1

OnEpoch = Callable[[int, dict[str, float], dict[str, Any]], None]


def paper_lambda(dataset: str, cls: Optional[int] = None) -> float:
    """The paper's lambda for a class-specific model (cls given) or the class-agnostic one."""
    if dataset not in PAPER_LAMBDA:
        raise UserError(f"no paper lambda for data set {dataset!r}; choose one of {sorted(PAPER_LAMBDA)}")
    if cls is None:
        return PAPER_LAMBDA_AGNOSTIC[dataset]
    return PAPER_LAMBDA_CLASS.get((dataset, int(cls)), PAPER_LAMBDA[dataset])


@dataclass(frozen=True)
class VAEGANConfig:
    """Everything that determines a VAE-GAN training run (defaults: supplement B.2, FONTS)."""

    in_shape: tuple[int, int, int] = (1, 28, 28)
    latent_dim: int = 10
    width: float = 1.0  # channel multiplier; smoke runs use e.g. 0.25
    lam: float = 3.0  # weight of the L1 reconstruction term (Eq. 7, 8)
    epochs: int = 10
    batch_size: int = 100
    lr: float = 0.005
    lr_decay: float = 0.9  # lr * lr_decay**epoch, per epoch
    weight_decay: float = 1e-4  # Adam's own (L2) weight decay, as the authors used it
    betas: tuple[float, float] = (0.5, 0.9)

    @classmethod
    def for_dataset(cls, dataset: str, klass: Optional[int] = None, **overrides: Any) -> "VAEGANConfig":
        """The paper's settings for `dataset` (class-specific if `klass` is given), then overrides."""
        if dataset not in PAPER_EPOCHS:
            raise UserError(f"unknown VAE-GAN data set {dataset!r}; choose one of {sorted(PAPER_EPOCHS)}")
        base = cls(in_shape=IMAGE_SHAPES[dataset], epochs=PAPER_EPOCHS[dataset], lam=paper_lambda(dataset, klass))
        return replace(base, **overrides)

    def arch(self) -> VAEGANArch:
        return VAEGANArch(in_shape=tuple(self.in_shape), latent_dim=self.latent_dim, width=self.width)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["in_shape"], d["betas"] = list(self.in_shape), list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VAEGANConfig":
        return cls(**{**d, "in_shape": tuple(d["in_shape"]), "betas": tuple(d["betas"])})


@dataclass
class Optimisers:
    """One Adam per network, so each loss updates only its own network."""

    enc: torch.optim.Adam
    dec: torch.optim.Adam
    dis: torch.optim.Adam
    all: list = field(init=False)

    def __post_init__(self) -> None:
        self.all = [self.enc, self.dec, self.dis]

    def set_lr(self, lr: float) -> None:
        for opt in self.all:
            for g in opt.param_groups:
                g["lr"] = lr


def make_optimisers(model: VAEGAN, cfg: VAEGANConfig) -> Optimisers:
    adam = lambda m: torch.optim.Adam(  # noqa: E731
        m.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
    )
    return Optimisers(adam(model.encoder), adam(model.decoder), adam(model.discriminator))


def kl_to_prior(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, analytically (Eq. 7)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


def _gan_real(logits: torch.Tensor) -> torch.Tensor:
    """-log dis(.) summed; binary_cross_entropy_with_logits is the stable form."""
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="sum")


def _gan_fake(logits: torch.Tensor) -> torch.Tensor:
    """-log(1 - dis(.)) summed."""
    return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits), reduction="sum")


def train_step(model: VAEGAN, opts: Optimisers, x: torch.Tensor, eps: torch.Tensor, lam: float) -> dict[str, float]:
    """One update of encoder, decoder and discriminator on batch x (Eq. 7-9), each on its own graph.

    eps [B, latent] is the reparameterisation noise, drawn by the caller from a seeded generator.
    Returns the three losses and their parts, divided by the batch size.
    """
    # Encoder (Eq. 7): gradients reach decoder and discriminator too, but only enc steps.
    for opt in opts.all:
        opt.zero_grad(set_to_none=True)
    mu, logvar = model.encoder(x)
    z = mu + eps * torch.exp(0.5 * logvar)
    rec = model.decoder(z)
    l1 = (rec - x).abs().sum()
    kl = kl_to_prior(mu, logvar).sum()
    gan_gen = _gan_real(model.discriminator(rec))
    (kl + lam * l1 + gan_gen).backward()
    opts.enc.step()

    # Decoder (Eq. 8) on a fresh graph from the same sample z.
    for opt in opts.all:
        opt.zero_grad(set_to_none=True)
    rec = model.decoder(z.detach())
    l1_dec = (rec - x).abs().sum()
    gan_dec = _gan_real(model.discriminator(rec))
    (lam * l1_dec + gan_dec).backward()
    opts.dec.step()

    # Discriminator (Eq. 9): real images vs. reconstructions (as the authors, no prior samples).
    opts.dis.zero_grad(set_to_none=True)
    dis_loss = _gan_real(model.discriminator(x)) + _gan_fake(model.discriminator(rec.detach()))
    dis_loss.backward()
    opts.dis.step()

    b = x.shape[0]
    return {
        "loss_enc": (kl + lam * l1 + gan_gen).item() / b,
        "loss_dec": (lam * l1_dec + gan_dec).item() / b,
        "loss_dis": dis_loss.item() / b,
        "l1": l1_dec.item() / x.numel(),  # mean absolute error per pixel
        "kl": kl.item() / b,
    }


def _images(data: Union[torch.Tensor, Split]) -> torch.Tensor:
    x = data.x if isinstance(data, Split) else data
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise UserError("VAE-GAN training needs images as a [N, C, H, W] tensor or a Split; pass split.x")
    if x.shape[0] == 0:
        raise UserError("VAE-GAN training got no images; check the class label and the data set")
    return x


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def images_hash(images: torch.Tensor) -> str:
    """A short stable hash of the training images, recorded in checkpoints."""
    return hashlib.sha256(images.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def build_vaegan(cfg: VAEGANConfig, seed: int) -> VAEGAN:
    """A freshly initialised VAE-GAN; the seed alone decides the weights (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return VAEGAN(cfg.arch())


def train_epoch(
    model: VAEGAN, opts: Optimisers, images: torch.Tensor, cfg: VAEGANConfig, epoch: int, seed: int
) -> dict[str, float]:
    """One pass over `images` (uint8 or float, on the model's device) in a seeded order.

    Batch order and reparameterisation noise come from a CPU generator seeded by (seed, epoch),
    so a run resumed at any epoch draws exactly what an uninterrupted run draws.
    """
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    order = torch.randperm(images.shape[0], generator=gen)
    lr = cfg.lr * cfg.lr_decay**epoch
    opts.set_lr(lr)
    model.train()
    sums: dict[str, float] = {}
    n_batches = 0
    start = time.perf_counter()
    for i in range(0, images.shape[0], cfg.batch_size):
        idx = order[i : i + cfg.batch_size]
        x = _as_float(images[idx.to(images.device)]).to(device)
        eps = torch.randn(x.shape[0], cfg.latent_dim, generator=gen).to(device)
        for k, v in train_step(model, opts, x, eps, cfg.lam).items():
            sums[k] = sums.get(k, 0.0) + v
        n_batches += 1
    elapsed = time.perf_counter() - start
    out = {k: v / n_batches for k, v in sums.items()}
    bad = sorted(k for k, v in out.items() if not math.isfinite(v))
    if bad:
        raise UserError(f"VAE-GAN training diverged: {', '.join(bad)} became non-finite in epoch {epoch + 1} "
                        f"(lambda {cfg.lam}); lower the VAE-GAN lr (now {cfg.lr}) or lambda")
    out.update(epoch=float(epoch), lr=lr, images_per_s=images.shape[0] / max(elapsed, 1e-9))
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
) -> tuple[VAEGAN, dict[str, float]]:
    """Train a VAE-GAN on `data` (uint8 images or a Split) for epochs start_epoch .. cfg.epochs-1.

    on_epoch(epoch, metrics, state) runs after every epoch; `state` (see `training_state`) is
    what to checkpoint and to pass back as `state` with start_epoch = state["next_epoch"] to
    resume. Returns the model (train mode off) and the last epoch's metrics.
    """
    images = _images(data)
    if tuple(images.shape[1:]) != tuple(cfg.in_shape):
        raise UserError(
            f"VAE-GAN config expects images {tuple(cfg.in_shape)} but got {tuple(images.shape[1:])}; "
            "set in_shape (VAEGANConfig.for_dataset picks it per data set)"
        )
    device = torch.device(device)
    model = build_vaegan(cfg, seed).to(device)
    opts = make_optimisers(model, cfg)
    if state is not None:
        model.load_state_dict(state["model"])
        opts.enc.load_state_dict(state["opt_enc"])
        opts.dec.load_state_dict(state["opt_dec"])
        opts.dis.load_state_dict(state["opt_dis"])
    images = images.to(device)  # stays uint8 on the device; batches convert to float
    metrics: dict[str, float] = {}
    for epoch in range(start_epoch, cfg.epochs):
        metrics = train_epoch(model, opts, images, cfg, epoch, seed)
        if on_epoch is not None:
            on_epoch(epoch, metrics, training_state(model, opts, epoch + 1))
    model.eval()
    return model, metrics


@dataclass(frozen=True)
class CheckpointRecord:
    """What a VAE-GAN checkpoint records beside the weights."""

    cfg: VAEGANConfig
    lam: float
    data_hash: str
    metrics: dict[str, float]


def save_checkpoint(
    path: Union[str, Path],
    model: VAEGAN,
    cfg: VAEGANConfig,
    lam: Optional[float] = None,
    data_hash: str = "",
    metrics: Optional[dict[str, float]] = None,
) -> Path:
    """Write weights (state dicts, CPU) and their provenance atomically (temporary file + rename)."""
    lam = cfg.lam if lam is None else float(lam)
    if lam != cfg.lam:
        raise ValueError(f"checkpoint lambda {lam} differs from the config's lambda {cfg.lam}")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": cfg.to_dict(),
        "lam": lam,
        "data_hash": str(data_hash),
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    return _atomic_save(payload, Path(path))


def _atomic_save(obj: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def save_training_state(path: Union[str, Path], state: dict[str, Any], cfg: VAEGANConfig, seed: int) -> Path:
    """A resumable mid-training checkpoint (the `state` that `on_epoch` receives), written atomically."""
    return _atomic_save({"format": CHECKPOINT_FORMAT, "config": cfg.to_dict(), "seed": int(seed), "state": state}, Path(path))


def load_training_state(path: Union[str, Path]) -> tuple[dict[str, Any], VAEGANConfig, int]:
    """(state, cfg, seed) from `save_training_state`; resume with
    train_vaegan(data, cfg, seed=seed, state=state, start_epoch=state["next_epoch"])."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    return payload["state"], VAEGANConfig.from_dict(payload["config"]), payload["seed"]


def load_checkpoint(
    path: Union[str, Path], device: Union[torch.device, str] = "cpu"
) -> tuple[VAEGAN, CheckpointRecord]:
    """Rebuild the model from the recorded config (weights_only=True: no pickled code runs)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"VAE-GAN checkpoint {path} does not exist; train it first or fix the path")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path} is not a raysweep VAE-GAN checkpoint (format {payload.get('format')!r}); retrain it")
    cfg = VAEGANConfig.from_dict(payload["config"])
    has_dis = any(k.startswith("discriminator.") for k in payload["state_dict"])
    model = VAEGAN(cfg.arch(), with_discriminator=has_dis)
    model.load_state_dict(payload["state_dict"])
    record = CheckpointRecord(cfg, payload["lam"], payload["data_hash"], payload["metrics"])
    return model.to(device).eval(), record
