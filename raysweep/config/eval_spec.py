"""The spec of `raysweep evaluate`: models trained elsewhere, evaluated like a sweep's trials.

    name: fonts-pretrained
    dataset: {name: fonts}
    models:
      - {label: mine, arch: cnn, checkpoint: runs/cnn.pt}            # a registry model's weights
      - {label: tv18, builder: "torchvision:resnet18", input_channels: 3,
         checkpoint: runs/r18.pt}                                     # a torchvision builder
    evaluate: {attacks: [{name: linf, samples: 500}]}

Each model becomes one trial row (its `strategy` column is the label) with the evaluation part
of a sweep trial: test error, attacks, distances, example rows. A checkpoint is a state dict or
a raysweep training checkpoint ({"model": state dict, ...}), read with weights_only. `builder`
names `torchvision:<fn>` or `timm:<name>`, called with num_classes from the data set plus
`options`; without a checkpoint it keeps the builder's own initial weights.
"""
from __future__ import annotations

from typing import Any, Optional

from pydantic import Field, model_validator

from raysweep.config.arch import ArchSpec
from raysweep.config.schema import DatasetSpec, EvaluateSpec, Seed, Strict

BUILDERS = ("torchvision", "timm")


class ModelSource(Strict):
    label: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)  # its row's `strategy`
    arch: Optional[ArchSpec] = None  # a registered model (raysweep list models) the checkpoint belongs to
    builder: Optional[str] = None  # "torchvision:resnet18" or "timm:resnet18"
    options: dict[str, Any] = Field(default_factory=dict)  # builder keyword arguments
    checkpoint: Optional[str] = None  # path or URI of the weights
    input_channels: Optional[int] = Field(None, ge=1)  # repeat gray images to this many channels (3 for ImageNet models)
    n: int = Field(0, ge=0)  # training-set size, when known (0: unknown); the rows' `n`

    @model_validator(mode="after")
    def _one_source(self) -> "ModelSource":
        if (self.arch is None) == (self.builder is None):
            raise ValueError(f"models: {self.label!r} needs exactly one of arch (a registered model) or builder")
        if self.arch is not None and self.checkpoint is None:
            raise ValueError(f"models: {self.label!r} names arch {self.arch.name!r} but no checkpoint to load")
        if self.builder is not None and self.builder.partition(":")[0] not in BUILDERS:
            raise ValueError(f"models: builder {self.builder!r} must start with one of "
                             f"{', '.join(b + ':' for b in BUILDERS)}")
        return self

    @property
    def arch_spec(self) -> ArchSpec:
        """What the rows' `arch` column shows: the registry entry or the builder with its options."""
        return self.arch or ArchSpec(name=self.builder or "", options=self.options)


class EvalSpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    dataset: DatasetSpec
    models: list[ModelSource] = Field(min_length=1)
    evaluate: EvaluateSpec = Field(default_factory=EvaluateSpec)
    seed: Seed = 0  # seeds the attacks' random starts
    storage: str = Field("results", min_length=1)
    plugins: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _labels(self) -> "EvalSpec":
        labels = [m.label for m in self.models]
        if len(set(labels)) != len(labels):
            raise ValueError("models: two models share a label; give each its own")
        return self
