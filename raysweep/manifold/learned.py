"""Manifolds learned by VAE-GANs (Sec. 3.1, supplement B.2, G), behind the `Manifold` protocol.

`ClassManifold`: one class-specific VAE-GAN per class; the class label is the fixed context, it
picks the encoder for `codes` and the decoder for `decode`. `DataManifold`: one class-agnostic
VAE-GAN, no context. Latent codes are encoder means mu; the paper constrains z + zeta to
[-2, 2]^10 ("corresponding to a truncated normal prior", Sec. 3.3).

Codes outside that box. Sec. 3.3: "on approximated manifolds, the perturbation z + zeta is
additionally constrained to [-2, 2]^10, corresponding to a truncated normal prior from the
class-specific VAE-GANs"; supplement E: the attack optimises zeta and "the adversarial example is
obtained as dec(z + zeta) with z being the latent code of image x". Neither says what happens when
the code z = mu(x) itself lies outside the box. Two choices, `outside=`:
- "clamp" (the default): `codes` returns mu clamped into the box and every sample valid, so the
  attack perturbs the nearest code of the truncated prior and judges correctness on dec(clamp(mu)).
  It keeps every sample: on paper-size FONTS VAE-GANs (the Fig. 5 reproduction runs) the means spread wider than
  N(0, I) (std about 1.3 a dimension) and ||mu||_inf <= 2 held for only 27% of a class's test
  images (45-52% on F-MNIST, docs/measurements.md).
- "exclude": samples with ||mu||_inf > 2 are invalid, left out of every rate and counted in
  n_excluded (the reference's "ours").
Which samples count is the selection: a sample counts only when the classifier is right on its
start image, and a clamped start is a blurred, atypical image that better (larger-N) models read
more often, so under "clamp" the counted share grows with N while under "exclude" the bound's
selection depends on the VAE-GAN alone (tests/attacks/test_onmanifold_bound.py shows both on a model with
a known answer). Both counts are reported per attack (AttackResult.bound_counts: samples outside
the bound, clamped, excluded), so a reader sees how many success rates rest on clamped starts;
the share inside the bound is also in the sweep's `manifolds` table. The default stays "clamp":
"exclude" removes the selection by N but also the 48-73% of samples whose means lie outside the
bound (FONTS, F-MNIST above), and which half remains depends on the VAE-GAN; "clamp" keeps every
sample and states how many success rates rest on clamped starts (n_clamped), so an analysis can
split or drop them. Where a claim is decided on the learned manifolds over N, check that
n_clamped / n_correct does not move with N (a sweep spec cannot choose `outside` yet:
raysweep.manifold.serving builds the default).

Weights are frozen (eval mode, requires_grad False) so attacks differentiate w.r.t. z only, and
the manifolds are built from plain state dicts so they can come out of a Ray object store as CPU
tensors (`from_state_dicts`).
"""
from __future__ import annotations

from typing import Callable, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from raysweep.data.batch import Batch
from raysweep.vaegan.config import VAEGANConfig
from raysweep.vaegan.network import VAEGAN, VAEGANArch

LATENT_BOUND = 2.0  # the paper's ||z||_inf <= 2 on learned manifolds

ArchLike = Union[VAEGANConfig, VAEGANArch]


def _arch(cfg: ArchLike) -> VAEGANArch:
    return cfg.arch() if isinstance(cfg, VAEGANConfig) else cfg


def frozen_vae(state_dict: Mapping[str, torch.Tensor], cfg: ArchLike) -> VAEGAN:
    """Encoder + decoder (no discriminator) from a state dict, eval mode, no parameter grads."""
    model = VAEGAN(_arch(cfg), with_discriminator=False)
    wanted = {k: v for k, v in state_dict.items() if k.startswith(("encoder.", "decoder."))}
    model.load_state_dict(wanted)
    return freeze(model)


def freeze(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _box(latent_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.full((latent_dim,), -LATENT_BOUND), torch.full((latent_dim,), LATENT_BOUND)


OUTSIDE = ("clamp", "exclude")  # what codes() does with a code outside the bound


def _valid(mu: torch.Tensor) -> torch.Tensor:
    return mu.abs().amax(dim=1) <= LATENT_BOUND


def _bounded(mu: torch.Tensor, outside: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(codes, valid, outside the bound) under the bound policy (see the module docstring)."""
    inside = _valid(mu)
    if outside == "exclude":
        return mu, inside, ~inside
    return mu.clamp(-LATENT_BOUND, LATENT_BOUND), torch.ones_like(inside), ~inside


def _check_outside(outside: str) -> str:
    if outside not in OUTSIDE:
        raise ValueError(f"outside={outside!r}: use one of {OUTSIDE}")
    return outside


class ClassManifold:
    """Class manifolds of per-class VAE-GANs; ctx = class label [B] (int64)."""

    def __init__(self, models: Union[Mapping[int, VAEGAN], Sequence[VAEGAN]], outside: str = "clamp"):
        self.outside = _check_outside(outside)
        items = models.items() if isinstance(models, Mapping) else enumerate(models)
        self.models: dict[int, VAEGAN] = {int(c): freeze(m) for c, m in items}
        if not self.models:
            raise ValueError("ClassManifold needs at least one class model")
        dims = {m.arch.latent_dim for m in self.models.values()}
        if len(dims) != 1:
            raise ValueError(f"class models disagree on the latent dimension: {sorted(dims)}")
        self.latent_dim = dims.pop()
        self._image_shape = next(iter(self.models.values())).arch.in_shape
        self.lower, self.upper = _box(self.latent_dim)

    @classmethod
    def from_state_dicts(cls, state_dicts: Mapping[int, Mapping[str, torch.Tensor]], cfg: ArchLike) -> "ClassManifold":
        return cls({c: frozen_vae(sd, cfg) for c, sd in state_dicts.items()})

    def _model(self, c: int) -> VAEGAN:
        try:
            return self.models[int(c)]
        except KeyError:
            raise KeyError(f"no VAE-GAN for class {int(c)}; have classes {sorted(self.models)}") from None

    @property
    def device(self) -> torch.device:
        return next(iter(self.models.values())).decoder.fc.weight.device

    def _per_class(self, inputs: torch.Tensor, ctx: torch.Tensor,
                   run: Callable[[VAEGAN, torch.Tensor], torch.Tensor], out_shape: tuple[int, ...]) -> torch.Tensor:
        """run(model_c, rows of class c) for every class present, results back in input order.

        One sort, one split and one un-permute: the class counts are the only values read back to
        the host (bincount's own checks aside), where a boolean-mask gather and scatter per class
        cost about 21 host syncs per attack iteration on a GPU."""
        labels = ctx.reshape(-1).long()
        if labels.numel() == 0:
            return inputs.new_zeros(0, *out_shape)
        try:
            counts = torch.bincount(labels, minlength=max(self.models) + 1).tolist()
        except RuntimeError:  # bincount refuses negative values
            raise KeyError(f"negative class label; have classes {sorted(self.models)}") from None
        order = torch.argsort(labels, stable=True)
        outs = [run(self._model(c), rows) for c, rows in enumerate(torch.split(inputs[order], counts)) if counts[c]]
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel(), device=order.device)
        return torch.cat(outs)[inverse]

    def encode(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        """Encoder means mu [B, d], each sample through its class's encoder."""
        with torch.no_grad():
            return self._per_class(x, ctx, lambda m, rows: m.encoder(rows)[0], (self.latent_dim,))

    def codes(self, batch: Batch) -> tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
        return self.bounded_codes(batch)[:3]

    def bounded_codes(self, batch: Batch) -> tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor, torch.Tensor]:
        """codes() and which samples' means fell outside the bound [B] (clamped or excluded)."""
        ctx = batch.y.long()
        z, valid, out = _bounded(self.encode(batch.x, ctx), self.outside)
        return z, ctx, valid, out

    def decode(self, z: torch.Tensor, ctx: Optional[torch.Tensor]) -> torch.Tensor:
        """dec_c(z) per sample, c = ctx; differentiable in z."""
        if ctx is None:
            raise ValueError("ClassManifold.decode needs ctx = class labels")
        return self._per_class(z, ctx, lambda m, rows: m.decoder(rows), self._image_shape)

    def to(self, device: Union[torch.device, str]) -> "ClassManifold":
        for m in self.models.values():
            m.to(device)
        self.lower, self.upper = self.lower.to(device), self.upper.to(device)
        return self


class DataManifold:
    """The data manifold of one class-agnostic VAE-GAN (supplement G); ctx is None."""

    def __init__(self, model: VAEGAN, outside: str = "clamp"):
        self.outside = _check_outside(outside)
        self.model = freeze(model)
        self.latent_dim = model.arch.latent_dim
        self.lower, self.upper = _box(self.latent_dim)

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor], cfg: ArchLike) -> "DataManifold":
        return cls(frozen_vae(state_dict, cfg))

    def encode(self, x: torch.Tensor, ctx: Optional[torch.Tensor] = None) -> torch.Tensor:
        with torch.no_grad():
            return self.model.encoder(x)[0]

    def codes(self, batch: Batch) -> tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
        return self.bounded_codes(batch)[:3]

    def bounded_codes(self, batch: Batch) -> tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor, torch.Tensor]:
        """codes() and which samples' means fell outside the bound [B] (clamped or excluded)."""
        z, valid, out = _bounded(self.encode(batch.x), self.outside)
        return z, None, valid, out

    def decode(self, z: torch.Tensor, ctx: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.model.decoder(z)

    def to(self, device: Union[torch.device, str]) -> "DataManifold":
        self.model.to(device)
        self.lower, self.upper = self.lower.to(device), self.upper.to(device)
        return self
