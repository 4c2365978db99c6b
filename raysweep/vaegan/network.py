"""VAE-GAN networks of supplement B.2: encoder, decoder and discriminator.

Three (de-)convolutional layers (4x4 kernels, stride 2, 64/128/256 channels, BatchNorm + ReLU)
for 28x28 images, four for 56x48 CelebA; the encoder has two linear heads (mean and log-variance
of q(z|x)), the decoder mirrors the encoder and ends in a sigmoid, the discriminator is the
classifier architecture with 64 base channels, two linear layers and one logit. `width` scales
every channel count so smoke runs can use small models (width 0.25 -> 16/32/64 channels).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from raysweep._core.tensors import cpu_copy


@dataclass(frozen=True)
class VAEGANArch:
    """Shape of a VAE-GAN. n_layers None: 3 for images up to 32 px high, 4 above (CelebA)."""

    in_shape: tuple[int, int, int] = (1, 28, 28)
    latent_dim: int = 10
    width: float = 1.0  # channel multiplier; 1.0 is the paper's 64/128/256
    n_layers: Optional[int] = None
    disc_hidden: int = 100  # the discriminator's first linear layer, as in the classifier

    @property
    def layers(self) -> int:
        return self.n_layers if self.n_layers is not None else (3 if self.in_shape[1] <= 32 else 4)

    @property
    def channels(self) -> list[int]:
        return [max(1, round(64 * self.width * 2**i)) for i in range(self.layers)]

    @property
    def spatial(self) -> list[tuple[int, int]]:
        """Feature-map sizes from the input down: k4 s2 p1 maps n -> floor(n / 2)."""
        sizes = [tuple(self.in_shape[1:])]
        for _ in range(self.layers):
            h, w = sizes[-1]
            sizes.append((h // 2, w // 2))
        return sizes  # type: ignore[return-value]

    @property
    def flat(self) -> int:
        h, w = self.spatial[-1]
        return self.channels[-1] * h * w


def _conv_stack(arch: VAEGANArch) -> nn.Sequential:
    layers: list[nn.Module] = []
    c_in = arch.in_shape[0]
    for c_out in arch.channels:
        layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        c_in = c_out
    return nn.Sequential(*layers, nn.Flatten())


class Encoder(nn.Module):
    """q(z|x) = N(mu(x), diag(exp(logvar(x)))); attacks and projections use mu."""

    def __init__(self, arch: VAEGANArch):
        super().__init__()
        self.features = _conv_stack(arch)
        self.mu = nn.Linear(arch.flat, arch.latent_dim)
        self.logvar = nn.Linear(arch.flat, arch.latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        return self.mu(h), self.logvar(h)


class Decoder(nn.Module):
    """dec(z): Linear -> C x h x w -> transposed convs back to the input size, sigmoid output."""

    def __init__(self, arch: VAEGANArch):
        super().__init__()
        self.arch = arch
        chans, sizes = arch.channels, arch.spatial
        self.fc = nn.Linear(arch.latent_dim, arch.flat)
        self.bn0 = nn.BatchNorm2d(chans[-1])
        ups: list[nn.Module] = []
        outs = list(reversed(chans[:-1])) + [arch.in_shape[0]]
        c_in = chans[-1]
        for i, c_out in enumerate(outs):
            (h, w), (th, tw) = sizes[-1 - i], sizes[-2 - i]
            # k4 s2 p1 doubles the size; output_padding restores odd sizes (3 -> 7, 7 -> 14).
            pad = (th - 2 * h, tw - 2 * w)
            ups.append(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, output_padding=pad))
            if i < len(outs) - 1:
                ups += [nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            c_in = c_out
        self.ups = nn.Sequential(*ups)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h, w = self.arch.spatial[-1]
        x = self.fc(z).view(z.shape[0], self.arch.channels[-1], h, w)  # [B, C, h, w]
        x = torch.relu(self.bn0(x))
        return torch.sigmoid(self.ups(x))


class Discriminator(nn.Module):
    """dis(x): one logit, real vs. reconstructed (classifier architecture, 64 base channels)."""

    def __init__(self, arch: VAEGANArch):
        super().__init__()
        self.features = _conv_stack(arch)
        self.head = nn.Sequential(nn.Linear(arch.flat, arch.disc_hidden), nn.Linear(arch.disc_hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)


class VAEGAN(nn.Module):
    """The three networks together. with_discriminator=False builds the part a manifold serves."""

    def __init__(self, arch: VAEGANArch, with_discriminator: bool = True):
        super().__init__()
        self.arch = arch
        self.encoder = Encoder(arch)
        self.decoder = Decoder(arch)
        self.discriminator = Discriminator(arch) if with_discriminator else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction dec(mu(x)) (deterministic: the encoder mean, as attacks use it)."""
        return self.decoder(self.encoder(x)[0])


def serving_state_dict(model: VAEGAN) -> dict[str, torch.Tensor]:
    """Encoder + decoder weights as detached CPU tensors (what a manifold actor ships out)."""
    return cpu_copy({k: v for k, v in model.state_dict().items() if k.startswith(("encoder.", "decoder."))})
