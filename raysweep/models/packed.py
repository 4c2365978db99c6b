"""K independent classifiers of one architecture evaluated as one module (packed trials:
K small models' kernels launched as one).

Why: the paper's grids (Sec. 3: many N x seeds x strategies) are hundreds of ~60k-parameter
models; on a GPU one such model at batch 100 is launch-bound, so K of them in one set of kernels
cost about what one costs. The pack is mathematically K separate models:
- weights: the K models are built by the caller (`build_model(..., seed=s)`, so the same seed
  gives the same weights as unpacked) and their tensors stacked along a new leading dim [K, ...];
- BatchNorm: every buffer (running mean/var, batch count) is stacked too and `vmap` gives each
  model its own batch statistics and its own running statistics;
- optimiser: the parameters are plain [K, ...] leaves, so one Adam over them is K Adams (Adam and
  its L2 weight decay are elementwise) when the loss is the sum of the K losses (each model's
  gradient then depends only on its own loss).

Execution is `torch.func.functional_call` under `vmap` over one template module, kept over
hand-written grouped convolutions + batched matmuls because it packs every registered
architecture without a second implementation of each (residual blocks, max-pooling, BN1d and
BN2d alike). Measured on CPU (1 thread, paper CNN, batch 100, one train step, a loaded 2-core
machine): vmap 0.6-0.9x of K sequential models, a grouped-conv CNN 1.0-1.4x. Neither pays enough
on CPU to matter, so CPU runs packs sequentially (raysweep.training.packed); the GPU comparison
of vmap against grouped convolutions is not measured (no GPU was lent when this was written).
Shapes: forward takes x [K, B, C, H, W] and returns logits [K, B, n_classes].
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from raysweep._core.errors import UserError


def _key(name: str) -> str:
    # Parameter/buffer names may not contain "."; "__" never occurs in the families' names.
    return name.replace(".", "__")


class PackedModel(nn.Module):
    """K models of one architecture as one module; see the module docstring."""

    def __init__(self, models: Sequence[nn.Module]):
        super().__init__()
        if not models:
            raise UserError("a pack needs at least one model")
        kinds = {type(m) for m in models}
        if len(kinds) != 1:
            raise UserError(f"a pack holds models of one architecture, got {sorted(k.__name__ for k in kinds)}")
        device = next(models[0].parameters()).device

        params, buffers = stack_module_state(list(models))  # name -> [K, ...]
        self.k = len(models)
        self._names = (list(params), list(buffers))
        for name, value in params.items():
            self.register_parameter(_key(name), nn.Parameter(value.detach().clone()))
        for name, value in buffers.items():
            self.register_buffer(_key(name), value.clone())
        # Kept out of the module tree (object.__setattr__): the template's own tensors are never
        # used -- functional_call substitutes the stacked ones -- and must not reach an optimiser.
        object.__setattr__(self, "_template", copy.deepcopy(models[0]).to("meta"))
        object.__setattr__(self, "_skeleton", copy.deepcopy(models[0]).to(device))

    def _stacked(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        params = {n: getattr(self, _key(n)) for n in self._names[0]}
        buffers = {n: getattr(self, _key(n)) for n in self._names[1]}
        return params, buffers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != self.k:
            raise ValueError(f"packed input must be [K={self.k}, B, ...], got {tuple(x.shape)}")
        self._template.train(self.training)  # BN: batch statistics in train mode, running ones in eval
        params, buffers = self._stacked()

        def one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
            return functional_call(self._template, (p, b), (xi,))

        # randomness="error": the families have no dropout; a random layer would need per-model streams
        return vmap(one, in_dims=(0, 0, 0), randomness="error")(params, buffers, x)

    @torch.no_grad()
    def unpack(self, k: int) -> nn.Module:
        """Model k as a stand-alone module (a copy; same architecture, weights and BN buffers)."""
        model = copy.deepcopy(self._skeleton)
        params, buffers = self._stacked()
        device = next(iter(params.values())).device
        model.to(device)
        model.load_state_dict({**{n: t[k] for n, t in params.items()}, **{n: t[k] for n, t in buffers.items()}})
        model.train(self.training)
        return model


class FlatPack(nn.Module):
    """A pack seen as one model on rows laid out [outer, K, b] (flattened), for the attacks.

    The attack code works on one row dimension; rows r*K*b + k*b + i belong to model k. Each
    row's logits depend only on its own model and image (eval mode: BN uses running statistics),
    so the attack's loss -- a sum over rows -- keeps every (model, sample) gradient independent.
    `b` (samples per model) is set by the caller before each attacked chunk.
    """

    def __init__(self, pack: PackedModel):
        super().__init__()
        self.pack = pack
        self.b = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, b = self.pack.k, self.b
        if b <= 0 or x.shape[0] % (k * b):
            raise ValueError(f"FlatPack got {x.shape[0]} rows, not a multiple of K*b = {k}*{b}")
        outer = x.shape[0] // (k * b)
        rows = x.view(outer, k, b, *x.shape[1:]).transpose(0, 1).reshape(k, outer * b, *x.shape[1:])
        logits = self.pack(rows)  # [K, outer*b, classes]
        return logits.view(k, outer, b, -1).transpose(0, 1).reshape(outer * k * b, -1)
