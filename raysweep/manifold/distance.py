"""Distances of adversarial examples to the manifold (Sec. 3.2, supplement C), by name.

`DISTANCES.build(name, **hyperparams)` returns a callable
`distance(x_adv, batch, *, manifold=None, train_images=None) -> DistanceResult`, where batch is
the clean batch the examples were crafted from (x, and z/ctx on FONTS). The entry's `needs` says
what the caller must pass: "true" / "class" / "data" (which manifold) or "train" (the training
images, uint8 [N, C, H, W]).

- true:    true projection over theta on FONTS, started from the test image's theta and from
  the best of codes spread over the preset's box (restarts, raysweep.manifold.projection_latent);
  theta never leaves the box.
- class / data: projection onto a VAE-GAN manifold over z, started from the
  encoder mean of x (class-specific models, or the class-agnostic one) and the same restarts.
Hyperparameters (iters, lr, restarts, candidates, ...) are LatentProjectionConfig's; a spec sets
them under the distance's `params`.
- knn:     least-squares projection of delta onto the span of the 50 nearest training images.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Optional

import torch

from raysweep.data.batch import Batch
from raysweep._core.errors import UserError
from raysweep.manifold.base import Manifold
from raysweep.manifold.projection_knn import knn_projection
from raysweep.manifold.projection_latent import LatentProjectionConfig, latent_projection, true_projection
from raysweep._core.registry import Registry


@dataclass
class DistanceResult:
    distance: torch.Tensor  # [B] ||x_adv - pi(x_adv)||_2 (kNN: ||delta - pi(delta)||_2)
    delta_l2: torch.Tensor  # [B] ||x_adv - x||_2


DistanceFn = Callable[..., DistanceResult]
DISTANCES: Registry[DistanceFn] = Registry("distance")


def _delta_l2(x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (x_adv - x).flatten(1).norm(dim=1)


def _require(value: object, what: str, name: str) -> None:
    if value is None:
        raise UserError(f"distance {name!r} needs {what}; enable it for this data set or drop the distance")


def _latent(name: str, cfg: LatentProjectionConfig, start_from_data_code: bool) -> DistanceFn:
    def distance(x_adv: torch.Tensor, batch: Batch, *, manifold: Optional[Manifold] = None, train_images=None) -> DistanceResult:
        _require(manifold, "a manifold", name)
        if start_from_data_code:  # FONTS: the test image's theta and (font, class)
            _require(batch.z, "latent codes (FONTS theta) in the batch", name)
            z0, ctx = batch.z, batch.ctx
        else:  # learned: the encoder mean of the clean image
            z0, ctx, _ = manifold.codes(batch)
        project = true_projection if start_from_data_code else latent_projection  # true: theta kept in the box
        proj = project(manifold, x_adv, z0, ctx, cfg)
        return DistanceResult(proj.distance, _delta_l2(x_adv, batch.x))

    return distance


@DISTANCES.register("true", "true projection over theta on FONTS (Eq. 10), 100 Adam steps, 8 screened restarts", needs="true")
def true_distance(**cfg) -> DistanceFn:
    return _latent("true", LatentProjectionConfig(**cfg), start_from_data_code=True)


@DISTANCES.register("class", "projection onto the class VAE-GAN manifolds over z, from the encoder mean",
                    needs="class")
def class_distance(**cfg) -> DistanceFn:
    return _latent("class", LatentProjectionConfig(**cfg), start_from_data_code=False)


@DISTANCES.register("data", "projection onto the class-agnostic VAE-GAN manifold over z", needs="data")
def data_distance(**cfg) -> DistanceFn:
    return _latent("data", LatentProjectionConfig(**cfg), start_from_data_code=False)


@DISTANCES.register("knn", "least-squares projection of delta onto the span of k nearest training images",
                    needs="train")
def knn_distance(k: int = 50, center: Literal["clean", "mean"] = "clean", chunk: int = 16384) -> DistanceFn:
    def distance(x_adv: torch.Tensor, batch: Batch, *, manifold=None, train_images: Optional[torch.Tensor] = None) -> DistanceResult:
        _require(train_images, "the training images", "knn")
        res = knn_projection(x_adv, batch.x, train_images, k=k, center=center, chunk=chunk)
        return DistanceResult(res.residual, res.delta_l2)

    return distance

