"""K frozen modules of one architecture run as a single vmapped call, each row through its own.

`ClassManifold.decode` sends every sample through its class's decoder. Looping over classes costs,
per attack iteration, ten decoder passes plus a boolean-mask gather/scatter (each a host sync on a
GPU) per class, forward and backward. Here the weights are stacked once (torch.func), rows are
scattered into a zero-padded [K, max rows per class, ...] block and the K decoders run as one
vmapped call (grouped kernels), then gathered back: the same numbers, a handful of kernels, and a
single host sync (the per-class counts that size the block).
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


class StackedModules:
    """modules[k](x[i]) for each row i with route[i] = k, in one call; differentiable in x."""

    def __init__(self, modules: Sequence[nn.Module]):
        if not modules:
            raise ValueError("StackedModules needs at least one module")
        self.k = len(modules)
        # Stacked copies of the (frozen) weights; the template only lends its forward (meta device).
        self.params, self.buffers = stack_module_state(list(modules))
        self.template = copy.deepcopy(modules[0]).to("meta")
        self.template.train(modules[0].training)

    def _one(self, params, buffers, x):
        return functional_call(self.template, (params, buffers), (x,))

    def __call__(self, x: torch.Tensor, route: torch.Tensor) -> torch.Tensor:
        """x [B, ...], route [B] int64 in [0, K) -> [B, ...out]."""
        counts = torch.bincount(route, minlength=self.k)
        order = torch.argsort(route, stable=True)
        starts = torch.cumsum(counts, 0) - counts
        # Each row's position inside its module's block: rank among the rows with the same route.
        rank = torch.empty_like(route)
        rank[order] = torch.arange(route.numel(), device=route.device) - starts[route[order]]
        rows = int(counts.max())  # the one host sync: the padded block's size
        block = x.new_zeros(self.k, rows, *x.shape[1:]).index_put((route, rank), x)
        out = vmap(self._one)(self.params, self.buffers, block)  # [K, rows, ...out]
        return out[route, rank]

    def to(self, device) -> "StackedModules":
        self.params = {n: t.to(device) for n, t in self.params.items()}
        self.buffers = {n: t.to(device) for n, t in self.buffers.items()}
        return self
