"""The model an attack differentiates: the same function as the classifier, cheaper to run.

An attack runs the model in eval mode and needs the gradient with respect to the input only,
thousands of times (5 restarts x 40 iterations per image). `attack_model` returns a copy that
computes the same logits up to float rounding (the weights of the caller's model are untouched):
- eval-mode BatchNorm folded into the Conv2d/Linear before it (w' = w g / sqrt(var + eps),
  b' = (b - mean) g / sqrt(var + eps) + beta), which drops BN's forward and backward passes;
- two Linear layers with nothing between them merged into one (the paper's CNN has such a pair,
  Sec. 3.1: Linear(576, 100) then Linear(100, n_classes), no nonlinearity);
- on CPU, convolutions with few input values per output (in_channels x kernel <= 64, such as the
  first layer on grey-scale images) take the input gradient as a matrix product and col2im
  (F.fold). oneDNN's backward-data kernel for them is 3-4x slower (FONTS CNN, 1 -> 16 channels,
  k4 s2: 10 ms against 2.9 ms for 500 images on one thread); wider ones keep oneDNN's;
- parameters do not require gradients, so no weight gradient is ever formed; on CPU the conv
  weights are channels_last.
Only patterns inside nn.Sequential are rewritten (there the output of one module is exactly the
input of the next); everything else runs as it is. Every registered family (cnn, mlp, resnet,
vgg) builds its Conv/BN pairs in Sequentials. A model with hooks on any module is attacked as it
is (the hooks of a folded BatchNorm would never fire).
"""
from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

# in_channels x kernel size up to which the input gradient is a matmul + col2im on CPU (measured:
# 1 and 3 input channels with 4x4 kernels gain 4x and 1.5x; 8 channels break even)
SMALL_CONV_FAN_IN = 64


def attack_model(model: nn.Module) -> nn.Module:
    """A copy of `model` (in eval mode) to attack, or `model` itself when nothing can be sped up."""
    if not _rewritable(model):
        return model
    fast = copy.deepcopy(model).eval()
    for module in list(fast.modules()):
        if isinstance(module, nn.Sequential):
            _fold_sequential(module)
    for name, module in list(fast.named_modules()):
        if type(module) is nn.Conv2d and _small_cpu_conv(module):
            _set_child(fast, name, _InputGradConv2d(module))
    for param in fast.parameters():
        param.requires_grad_(False)
    if next(fast.parameters()).device.type == "cpu":
        fast.to(memory_format=torch.channels_last)  # 4-5% faster fwd+bwd on oneDNN (FONTS CNN)
    return fast


def _rewritable(model: nn.Module) -> bool:
    """Something to speed up, and no hooks (a folded BatchNorm's hooks would never fire)."""
    if any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks
           for m in model.modules()):
        return False
    return any(_fusable(a, b) for s in model.modules() if isinstance(s, nn.Sequential) for a, b in zip(s, list(s)[1:])) \
        or any(type(m) is nn.Conv2d and _small_cpu_conv(m) for m in model.modules())


def _fusable(first: nn.Module, second: nn.Module) -> bool:
    if type(second) in (nn.BatchNorm2d, nn.BatchNorm1d):
        if not (second.track_running_stats and second.running_mean is not None):
            return False  # no running statistics: BN normalises with batch statistics even in eval
        return (type(first) is nn.Conv2d and type(second) is nn.BatchNorm2d) or \
            (type(first) is nn.Linear and type(second) is nn.BatchNorm1d)
    return type(first) is nn.Linear and type(second) is nn.Linear


def _fold_sequential(seq: nn.Sequential) -> None:
    """Fuse adjacent pairs in place; the second module of a pair becomes an Identity."""
    keys = list(seq._modules)
    i = 0
    while i + 1 < len(keys):
        first, second = seq._modules[keys[i]], seq._modules[keys[i + 1]]
        if first is not None and second is not None and _fusable(first, second):
            seq._modules[keys[i]] = _fuse(first, second)
            seq._modules[keys[i + 1]] = nn.Identity()
            keys.pop(i + 1)  # the merged module may fuse with the next one (Linear, Linear, BN1d)
        else:
            i += 1


def _fuse(first: nn.Module, second: nn.Module) -> nn.Module:
    if isinstance(second, nn.BatchNorm2d):
        return fuse_conv_bn_eval(first, second)
    if isinstance(second, nn.BatchNorm1d):
        return fuse_linear_bn_eval(first, second)
    merged = nn.Linear(first.in_features, second.out_features).to(first.weight)
    with torch.no_grad():  # W2 (W1 x + b1) + b2 = (W2 W1) x + (W2 b1 + b2)
        merged.weight.copy_(second.weight @ first.weight)
        b1 = first.bias if first.bias is not None else torch.zeros_like(first.weight[:, 0])
        b2 = second.bias if second.bias is not None else torch.zeros_like(second.weight[:, 0])
        merged.bias.copy_(second.weight @ b1 + b2)
    return merged


def _small_cpu_conv(conv: nn.Conv2d) -> bool:
    kh, kw = conv.kernel_size
    return (conv.weight.device.type == "cpu" and conv.groups == 1 and conv.padding_mode == "zeros"
            and isinstance(conv.padding, tuple) and conv.in_channels * kh * kw <= SMALL_CONV_FAN_IN)


def _set_child(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, module)


class _InputGradConv2d(nn.Module):
    """conv2d forward (oneDNN); backward: the input gradient only, as W^T g and col2im."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.weight, self.bias = conv.weight, conv.bias
        self.geometry = dict(kernel_size=conv.kernel_size, stride=conv.stride, padding=conv.padding,
                             dilation=conv.dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ConvInputGrad.apply(x, self.weight, self.bias, self.geometry)


class _ConvInputGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: Any, geometry: dict) -> torch.Tensor:
        ctx.save_for_backward(weight)
        ctx.geometry, ctx.in_size = geometry, tuple(x.shape[-2:])
        g = geometry
        return F.conv2d(x, weight, bias, g["stride"], g["padding"], g["dilation"])

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        (weight,) = ctx.saved_tensors
        n, c_out = grad_out.shape[:2]
        # unfold(x) -> [N, C_in k k, L] is what the conv multiplies by W [C_out, C_in k k];
        # its adjoint F.fold sums the column gradients back onto the pixels
        cols = torch.matmul(weight.reshape(c_out, -1).t(), grad_out.reshape(n, c_out, -1))  # [N, C_in k k, L]
        grad_x = F.fold(cols, ctx.in_size, **ctx.geometry)  # [N, C_in, H, W]
        return grad_x, None, None, None
