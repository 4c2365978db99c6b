"""Bring your own model: the nn.Module of one `raysweep evaluate` model source.

As in AutoAttack and RobustBench, a model takes float images in [0,1], NCHW, and returns logits.
A source is exactly one of (raysweep.config.eval_spec.ModelSource):
- `script`: a TorchScript file (torch.jit.save), self-contained, no code of yours imported;
- `arch` + `checkpoint`: a registered model (`raysweep list models`) and its state dict;
- `builder` + optional `checkpoint`: `torchvision:<fn>` / `timm:<name>` (built with the data set's
  number of classes) or any importable `module:Class` / `module:function` (called with `options`);
- `pickled`: a whole module saved with torch.save(model): loading it runs code from the file, so
  only with `trust_pickle` (the CLI's --trust-pickle).
Checkpoints load with weights_only=True; `{"model": state_dict, ...}` (a raysweep training
checkpoint) or a bare state dict. Every way a file or name can be wrong is one UserError line.
"""
from __future__ import annotations

import importlib
import io
import pickle
import zipfile
from typing import Any, Callable

import torch
from torch import nn

from raysweep._core import storage
from raysweep._core.errors import UserError


def read_model_file(path: str, what: str) -> bytes:
    data = storage.read_bytes(path)
    if data is None:
        raise UserError(f"{what} {path!r} does not exist; check the path")
    return data


def file_kind(path: str) -> str:
    """What a model file holds: "script" (TorchScript), "state_dict" (tensors only), "pickled" (other
    pickled objects, e.g. a whole module: not loaded here, since that runs code) or "unknown"."""
    data = read_model_file(path, "model file")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if any("/code/" in n for n in z.namelist()):  # compiled code: TorchScript; torch.save has none
                return "script"
    except zipfile.BadZipFile:
        pass
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # weights_only refusing a global means objects beyond tensors
        return "pickled" if "Unsupported global" in str(e) else "unknown"  # else: not a pickle at all
    except (RuntimeError, EOFError, ValueError, OSError):
        return "unknown"
    state = state.get("model", state) if isinstance(state, dict) else state
    return "state_dict" if isinstance(state, dict) else "unknown"


def load_torchscript(path: str, label: str) -> nn.Module:
    try:
        return torch.jit.load(io.BytesIO(read_model_file(path, "TorchScript file")), map_location="cpu")
    except RuntimeError as e:
        raise UserError(f"models: {label!r}: {path} is not a TorchScript file ({first_line(e)}); save the model with "
                        "torch.jit.save(torch.jit.script(model), path), or give its class and --weights") from None


def load_state_dict(path: str, label: str) -> dict[str, Any]:
    """A state dict (or a raysweep checkpoint's "model" entry) read without running pickled code."""
    kind = file_kind(path)
    if kind == "script":
        raise UserError(f"models: {label!r}: {path} is a TorchScript file, not a state dict; evaluate it as the "
                        f"model itself (raysweep evaluate {path})")
    if kind == "pickled":
        raise UserError(f"models: {label!r}: {path} holds pickled objects, not only tensors (a whole module saved with "
                        "torch.save(model)?); save model.state_dict(), or evaluate the file itself with "
                        "--trust-pickle if you trust it")
    if kind == "unknown":
        raise UserError(f"models: {label!r}: {path} is not a PyTorch checkpoint; give a state dict saved with "
                        "torch.save(model.state_dict(), path)")
    state = torch.load(io.BytesIO(read_model_file(path, "checkpoint")), map_location="cpu", weights_only=True)
    state = state.get("model", state) if isinstance(state, dict) else state
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"models: {label!r}: {path} is not a state dict (found {type(state).__name__}); "
                        "save model.state_dict()")
    return state


def load_pickled(path: str, label: str, trusted: bool) -> nn.Module:
    if not trusted:
        raise UserError(f"models: {label!r}: {path} is a whole pickled module, and loading it runs code from the "
                        "file; pass --trust-pickle (trust_pickle: true) if you trust it, or save a state dict or "
                        "TorchScript instead")
    try:
        model = torch.load(io.BytesIO(read_model_file(path, "model file")), map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001  (unpickling runs arbitrary code: any error is the file's)
        raise UserError(f"models: {label!r}: cannot unpickle {path} ({type(e).__name__}: {first_line(e)}); "
                        "the classes it names must be importable here") from None
    if not isinstance(model, nn.Module):
        raise UserError(f"models: {label!r}: {path} holds a {type(model).__name__}, not an nn.Module")
    return model


def import_builder(ref: str, label: str) -> Callable[..., nn.Module]:
    """`module:attr` -> the class or function it names (module:Class, package.mod:make_model)."""
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UserError(f"models: {label!r}: cannot import {module_name!r} ({first_line(e)}); install it or put its "
                        "folder on PYTHONPATH") from None
    target = getattr(module, attr, None)
    if not callable(target):
        raise UserError(f"models: {label!r}: {module_name} has no class or function {attr!r}")
    return target


def build_from(builder: str, options: dict[str, Any], n_classes: int, label: str) -> nn.Module:
    """torchvision:/timm: builders get the data set's class count; module:attr gets `options` only."""
    lib, _, name = builder.partition(":")
    try:
        if lib == "timm":
            return importlib.import_module("timm").create_model(name, num_classes=n_classes, **options)
        if lib == "torchvision":
            return getattr(importlib.import_module("torchvision.models"), name)(num_classes=n_classes, **options)
        model = import_builder(builder, label)(**options)
    except (ImportError, AttributeError, TypeError) as e:
        raise UserError(f"models: {label!r}: cannot build {builder!r} ({first_line(e)})") from None
    if not isinstance(model, nn.Module):
        raise UserError(f"models: {label!r}: {builder} returned a {type(model).__name__}, not an nn.Module")
    return model


def fit_weights(model: nn.Module, state: dict[str, Any], label: str, what: str) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise UserError(f"models: {label!r}: the weights do not fit {what} ({first_line(e)}); name the "
                        "architecture they were trained with") from None


def repeat_channels(model: nn.Module, channels: int) -> nn.Module:
    """The model behind a layer that repeats a gray image to the channels an ImageNet-style model
    expects ([B, 1, H, W] -> [B, channels, H, W])."""
    return RepeatChannels(model, channels)


class RepeatChannels(nn.Module):
    def __init__(self, inner: nn.Module, channels: int):
        super().__init__()
        self.inner, self.channels = inner, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.expand(-1, self.channels, -1, -1) if x.shape[1] == 1 else x)


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__
