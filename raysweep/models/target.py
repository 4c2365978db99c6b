"""`raysweep evaluate MODEL --dataset NAME ...` as an evaluation spec (a plain mapping, validated by
raysweep.commands.evaluate like a spec file): what MODEL names, decided
once, before anything is loaded or written.

MODEL is, in this order:
1. a folder written by `raysweep train --out` (its model.json names the arch, data set, N, seed);
2. a `module:Class` or `module:function` (torchvision:/timm: builders too), weights from --weights;
3. a registered architecture (`raysweep list models`), weights from --weights;
4. a file: TorchScript (torch.jit.save), or a whole pickled module (torch.save(model), only with
   --trust-pickle). A state dict alone names no architecture: the error says to give one.
"""
from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any, Optional

from raysweep._core.errors import UserError
from raysweep.models.loading import file_kind

TRAIN_OUT_CONFIG = "model.json"  # written by `raysweep train --out` beside the weights
TRAIN_OUT_WEIGHTS = "model.pt"


def read_train_out(folder: Path) -> dict[str, Any]:
    """The resolved config `raysweep train --out` wrote; one UserError line when it is unreadable."""
    try:
        return json.loads((folder / TRAIN_OUT_CONFIG).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"{folder / TRAIN_OUT_CONFIG}: not a readable `raysweep train --out` config ({e}); "
                        "train again with --out") from None


def file_source(path: Path, weights: Optional[str], trust_pickle: bool) -> dict[str, Any]:
    """A model file: TorchScript, or a whole pickled module; a state dict names no architecture."""
    kind = file_kind(str(path))
    if kind == "state_dict":
        raise UserError(f"MODEL {path}: a state dict holds weights but no architecture; give the model's class "
                        f"(raysweep evaluate module:Class --weights {path}) or a registered arch with --weights")
    if kind == "unknown":
        raise UserError(f"MODEL {path}: neither a TorchScript file, a state dict nor a pickled module; save the model "
                        "with torch.jit.save(torch.jit.script(model), path) or its state dict with torch.save")
    if weights:
        raise UserError(f"--weights {weights}: {path} is a model file that carries its own weights; drop --weights")
    return {"script": str(path)} if kind == "script" else {"pickled": str(path), "trust_pickle": trust_pickle}


def model_source(target: str, weights: Optional[str], trust_pickle: bool, models: set[str]) -> dict[str, Any]:
    """The `models:` entry (without label) MODEL names; `models`: the registered architectures."""
    path = Path(target).expanduser()
    if path.is_dir():
        if not (path / TRAIN_OUT_CONFIG).is_file():
            raise UserError(f"{target}: a folder without {TRAIN_OUT_CONFIG}; give a `raysweep train --out` folder, "
                            "a model file or module:Class")
        cfg = read_train_out(path)
        return {"arch": cfg["arch"], "checkpoint": str(path / TRAIN_OUT_WEIGHTS), "n": cfg.get("n", 0),
                "seed": cfg.get("seed")}
    if path.is_file():
        return file_source(path, weights, trust_pickle)
    kind = "builder" if ":" in target else "arch" if target in models else None
    if kind is None:
        raise UserError(f"MODEL {target!r}: not a file, a folder, a registered model ({', '.join(sorted(models))}) "
                        "or module:Class; see `raysweep evaluate --help`")
    if weights is None and kind == "arch":
        raise UserError(f"MODEL {target}: a registered architecture needs its trained weights; add --weights FILE")
    return {kind: target, **({"checkpoint": weights} if weights else {})}


def label_of(target: str) -> str:
    """A row label (the `strategy` column) from MODEL: a file or folder's name, or the class name."""
    name = Path(target.rstrip("/")).stem if ":" not in target else target.rpartition(":")[2]
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", name).lstrip("-_.") or "model"
    return name[:100]


def dataset_of(target: str, dataset: Optional[str], data_root: Optional[str]) -> dict[str, Any]:
    """--dataset (with --data-root), or the data set a `raysweep train --out` folder was trained on."""
    path = Path(target).expanduser()
    if dataset is None and path.is_dir() and (path / TRAIN_OUT_CONFIG).is_file():
        return read_train_out(path)["dataset"]
    if dataset is None:
        raise UserError("--dataset is required for this model (e.g. --dataset fonts; see `raysweep list datasets`)")
    return {"name": dataset, "options": {"root": data_root} if data_root else {}}


def spec_from_target(target: str, *, dataset: Optional[str], data_root: Optional[str], weights: Optional[str],
                     trust_pickle: bool, attacks: list[str], samples: int, seed: Optional[int],
                     storage: str, name: Optional[str], input_channels: Optional[int],
                     models: set[str]) -> dict[str, Any]:
    """The evaluation spec (a plain mapping, validated like a spec file) of one command-line model."""
    label = label_of(target)
    source = {"label": label, **model_source(target, weights, trust_pickle, models)}
    if seed is not None:
        source["seed"] = seed
    if source.get("seed") is None:
        source.pop("seed", None)
    if input_channels:
        source["input_channels"] = input_channels
    return {"name": name or f"eval-{label}", "dataset": dataset_of(target, dataset, data_root), "models": [source],
            "evaluate": {"attacks": [{"name": a, "samples": samples} for a in attacks]}, "storage": storage}
