"""VAE-GAN losses and one training step (supplement B.2, Eq. 7-9).

Losses (sums over the batch, one reparameterised sample of q(z|x)):
  encoder:       KL(q(z|x) || N(0, I)) + lambda * ||x - dec(z)||_1 - log dis(dec(z))
  decoder:       lambda * ||x - dec(z)||_1 - log dis(dec(z))
  discriminator: -log dis(x) - log(1 - dis(dec(z)))
The encoder's GAN term follows the authors' code (Eq. 7 omits it; minimising the sum of the three
losses, as the paper says, also sends it to the encoder). Each loss is computed on its own graph:
the authors' order (backward with retain_graph after earlier optimiser steps) fails on current
PyTorch because the steps modify tensors the retained graph still needs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from raysweep.vaegan.config import VAEGANConfig
from raysweep.vaegan.network import VAEGAN


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


def train_step(model: VAEGAN, opts: Optimisers, x: torch.Tensor, eps: torch.Tensor, lam: float) -> dict[str, torch.Tensor]:
    """One update of encoder, decoder and discriminator on batch x (Eq. 7-9), each on its own graph.

    eps [B, latent] is the reparameterisation noise, drawn by the caller from a seeded generator.
    Each backward pass computes gradients for the network its loss updates only (`inputs=`): the
    other networks' weight gradients were discarded unused, and skipping them changes no number.
    Returns the three losses and their parts, divided by the batch size, as detached 0-dim
    tensors on x's device: reading them is the caller's choice (train_epoch reads once an epoch,
    a host sync per step costs a GPU its queue).
    """
    enc, dec, dis = (list(m.parameters()) for m in (model.encoder, model.decoder, model.discriminator))
    # Encoder (Eq. 7): the loss reaches decoder and discriminator, but only the encoder learns.
    opts.enc.zero_grad(set_to_none=True)
    mu, logvar = model.encoder(x)
    z = mu + eps * torch.exp(0.5 * logvar)
    rec = model.decoder(z)
    l1 = (rec - x).abs().sum()
    kl = kl_to_prior(mu, logvar).sum()
    loss_enc = kl + lam * l1 + _gan_real(model.discriminator(rec))
    loss_enc.backward(inputs=enc)
    opts.enc.step()

    # Decoder (Eq. 8) on a fresh graph from the same sample z.
    opts.dec.zero_grad(set_to_none=True)
    rec = model.decoder(z.detach())
    l1_dec = (rec - x).abs().sum()
    loss_dec = lam * l1_dec + _gan_real(model.discriminator(rec))
    loss_dec.backward(inputs=dec)
    opts.dec.step()

    # Discriminator (Eq. 9): real images vs. reconstructions (as the authors, no prior samples).
    opts.dis.zero_grad(set_to_none=True)
    dis_loss = _gan_real(model.discriminator(x)) + _gan_fake(model.discriminator(rec.detach()))
    dis_loss.backward(inputs=dis)
    opts.dis.step()

    b = x.shape[0]
    return {"loss_enc": loss_enc.detach() / b, "loss_dec": loss_dec.detach() / b, "loss_dis": dis_loss.detach() / b,
            "l1": l1_dec.detach() / x.numel(),  # mean absolute error per pixel
            "kl": kl.detach() / b}
