"""Distance to a locally linear manifold through nearest neighbours (Sec. 3.2, supplement C).

The k = 50 nearest training images x_1..x_k of x_adv span the local manifold, centred at the
clean image x (main paper) or at their mean (supplement). delta = x_adv - x is projected onto
span{x_i - centre} by least squares (Eq. 11); reported are ||delta - X beta*||_2 and ||delta||_2.

Search is exact: squared distances ||a||^2 - 2 a.t + ||t||^2 by matrix products, over chunks of
training images on the device with a running top-k (the authors used a KD-tree in a 40-d PCA
space instead). The training images may be a FileRows (a cached .npy file, raysweep.data.file_rows):
the chunks are then read from the file and freed one at a time, so the search holds one chunk
of FONTS-1000's 750 MB training file in the process's memory, not the whole of it.

The least squares use the k x k Gram matrix and its pseudo-inverse in float64, which handles
the rank deficiency of mean-centred neighbours (they sum to zero) and duplicates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

import torch

from raysweep.data.file_rows import FileRows
from raysweep._core.errors import UserError

Center = Literal["clean", "mean"]


@dataclass
class KnnProjection:
    residual: torch.Tensor  # [B] ||delta - pi(delta)||_2
    delta_l2: torch.Tensor  # [B] ||delta||_2
    neighbours: torch.Tensor  # [B, k] row numbers in the training images


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div(255.0) if x.dtype == torch.uint8 else x.float()


Rows = Union[torch.Tensor, FileRows]


def _chunks(train: Rows, chunk: int):
    """(first row, rows [n, D]) over `train`; a FileRows chunk is read from its file."""
    if isinstance(train, FileRows):
        for start, t in train.chunks(chunk):
            yield start, t.reshape(t.shape[0], -1)
    else:
        for start in range(0, train.shape[0], chunk):
            yield start, train[start : start + chunk].flatten(1)


def _take(train: Rows, idx: torch.Tensor) -> torch.Tensor:
    """Rows idx [m] of `train` as [m, D] (read from the file for a FileRows)."""
    t = train.take(idx) if isinstance(train, FileRows) else train[idx.to(train.device)]
    return t.reshape(t.shape[0], -1)


def nearest_neighbours(queries: torch.Tensor, train: Rows, k: int, chunk: int = 16384) -> torch.Tensor:
    """Row numbers [B, k] of the k nearest rows of `train` [N, D...] (uint8 or float tensor, or a
    FileRows of the same) to queries [B, D]."""
    q = queries.float()
    q_sq = q.pow(2).sum(1, keepdim=True)  # [B, 1]
    best_d = q.new_full((q.shape[0], 0), float("inf"))
    best_i = torch.zeros(q.shape[0], 0, dtype=torch.long, device=q.device)
    for start, rows in _chunks(train, chunk):
        t = _as_float(rows.to(q.device))  # [n, D]
        d = q_sq - 2.0 * q @ t.T + t.pow(2).sum(1)[None]  # [B, n] squared distances
        kk = min(k, d.shape[1])
        cd, ci = d.topk(kk, dim=1, largest=False)
        best_d, pos = torch.cat([best_d, cd], 1).topk(min(k, best_d.shape[1] + kk), dim=1, largest=False)
        best_i = torch.cat([best_i, ci + start], 1).gather(1, pos)
    return best_i


def subspace_residual(delta: torch.Tensor, basis: torch.Tensor, rtol: float = 1e-10) -> torch.Tensor:
    """||delta - P delta||_2 per example, P the orthogonal projector onto span of basis rows.

    delta [B, D], basis [B, k, D]; beta* = (X X^T)^+ X delta solves Eq. 11 (minimum norm).
    """
    X = basis.double()
    d = delta.double()
    gram = X @ X.transpose(1, 2)  # [B, k, k]
    coef = torch.linalg.pinv(gram, rtol=rtol, hermitian=True) @ (X @ d.unsqueeze(2))  # [B, k, 1]
    proj = (X.transpose(1, 2) @ coef).squeeze(2)  # [B, D]
    return (d - proj).norm(dim=1).to(delta.dtype)


def knn_projection(
    x_adv: torch.Tensor,
    x_clean: torch.Tensor,
    train_images: Rows,
    k: int = 50,
    center: Center = "clean",
    chunk: int = 16384,
    query_chunk: int = 1024,
) -> KnnProjection:
    """kNN-subspace distance of adversarial examples; images [B, C, H, W] in [0,1], train [N, C, H, W].

    Runs on x_adv's device; train_images may stay uint8 (and on the CPU): chunks move over. A
    FileRows streams from its file (same neighbours and residuals as the array it holds).
    """
    if center not in ("clean", "mean"):
        raise UserError(f"unknown kNN centre {center!r}; choose 'clean' (main paper) or 'mean' (supplement)")
    if train_images.shape[0] < k:
        raise UserError(f"kNN projection needs at least k={k} training images, got {train_images.shape[0]}; lower k")
    if x_adv.shape != x_clean.shape or x_adv.shape[1:] != train_images.shape[1:]:
        raise ValueError(f"shapes differ: x_adv {tuple(x_adv.shape)}, x {tuple(x_clean.shape)}, train {tuple(train_images.shape)}")
    train = train_images
    if isinstance(train, torch.Tensor):
        train = train.flatten(1)
        if train.device != x_adv.device and train.numel() * train.element_size() < 2**31:
            train = train.to(x_adv.device)  # fits: move once instead of once per query chunk
    res, idx = [], []
    for s in range(0, x_adv.shape[0], query_chunk):
        a, c = x_adv[s : s + query_chunk].flatten(1).float(), x_clean[s : s + query_chunk].flatten(1).float()
        nn_idx = nearest_neighbours(a, train, k, chunk)  # [b, k]
        nbrs = _as_float(_take(train, nn_idx.reshape(-1)).to(a.device)).view(a.shape[0], k, -1)
        centre = c[:, None] if center == "clean" else nbrs.mean(1, keepdim=True)
        res.append(subspace_residual(a - c, nbrs - centre))
        idx.append(nn_idx)
    delta_l2 = (x_adv - x_clean).flatten(1).float().norm(dim=1)
    return KnnProjection(torch.cat(res), delta_l2, torch.cat(idx))
