"""The one VAE-GAN checkpoint format, read and written through raysweep._core.storage.

A finished model: weights (CPU state dicts) with their config, lambda, training-data hash and
last metrics. A training state: what `train_vaegan(state=...)` resumes from. Both load with
weights_only=True, so no pickled code runs; local paths and URIs alike.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Union

import torch

from raysweep._core import storage
from raysweep._core.errors import UserError
from raysweep.vaegan.config import VAEGANConfig
from raysweep.vaegan.network import VAEGAN

CHECKPOINT_FORMAT = 1
Where = Union[str, storage.Location]


@dataclass(frozen=True)
class CheckpointRecord:
    """What a VAE-GAN checkpoint records beside the weights."""

    cfg: VAEGANConfig
    lam: float
    data_hash: str
    metrics: dict[str, float]


def save_checkpoint(
    path: Where,
    model: VAEGAN,
    cfg: VAEGANConfig,
    lam: Optional[float] = None,
    data_hash: str = "",
    metrics: Optional[dict[str, float]] = None,
) -> str:
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
    storage.save_torch(path, payload)
    return storage.uri(path)


def save_training_state(path: Where, state: dict[str, Any], cfg: VAEGANConfig, seed: int) -> str:
    """A resumable mid-training checkpoint (the `state` that `on_epoch` receives), written atomically."""
    storage.save_torch(path, {"format": CHECKPOINT_FORMAT, "config": cfg.to_dict(), "seed": int(seed), "state": state})
    return storage.uri(path)


def load_training_state(path: Where) -> Optional[tuple[dict[str, Any], VAEGANConfig, int]]:
    """(state, cfg, seed) from `save_training_state`, or None when there is none; resume with
    train_vaegan(data, cfg, seed=seed, state=state, start_epoch=state["next_epoch"])."""
    payload = storage.load_torch(path)
    if payload is None:
        return None
    return payload["state"], VAEGANConfig.from_dict(payload["config"]), payload["seed"]


def load_checkpoint(path: Where, device: Union[torch.device, str] = "cpu") -> tuple[VAEGAN, CheckpointRecord]:
    """Rebuild the model from the recorded config (weights_only=True: no pickled code runs)."""
    payload = storage.load_torch(path)
    if payload is None:
        raise UserError(f"VAE-GAN checkpoint {storage.uri(path)} does not exist; train it first or fix the path")
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path} is not a raysweep VAE-GAN checkpoint (format {payload.get('format')!r}); retrain it")
    cfg = VAEGANConfig.from_dict(payload["config"])
    has_dis = any(k.startswith("discriminator.") for k in payload["state_dict"])
    model = VAEGAN(cfg.arch(), with_discriminator=has_dis)
    model.load_state_dict(payload["state_dict"])
    record = CheckpointRecord(cfg, payload["lam"], payload["data_hash"], payload["metrics"])
    return model.to(device).eval(), record
