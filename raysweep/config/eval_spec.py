"""The spec of `raysweep evaluate`: models trained elsewhere, evaluated like a sweep's trials.

    name: fonts-pretrained
    dataset: {name: fonts}
    models:
      - {label: mine, arch: cnn, checkpoint: runs/cnn.pt}            # a registry model's weights
      - {label: scripted, script: runs/model.ts}                      # a TorchScript file
      - {label: own, builder: "mypkg.nets:SmallNet", checkpoint: runs/small.pt, seed: 2}
      - {label: tv18, builder: "torchvision:resnet18", input_channels: 3,
         checkpoint: runs/r18.pt}                                     # a torchvision builder
    evaluate: {attacks: [{name: linf, samples: 500}]}

Each model becomes one trial row (its `strategy` column is the label) with the evaluation part
of a sweep trial: clean and robust accuracy, test error, attacks, distances, example rows. How
each kind of source is loaded (and why a whole pickled module needs `trust_pickle`):
raysweep.models.loading. `raysweep evaluate MODEL --dataset NAME` builds this spec from the
command line (raysweep.commands.evaluate).
"""
from __future__ import annotations

from typing import Any, Optional

from pydantic import Field, model_validator

from raysweep.config.arch import ArchSpec
from raysweep.config.schema import DatasetSpec, EvaluateSpec, Seed, Strict


class ModelSource(Strict):
    label: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)  # its row's `strategy`
    arch: Optional[ArchSpec] = None  # a registered model (raysweep list models) the checkpoint belongs to
    builder: Optional[str] = None  # "torchvision:resnet18", "timm:resnet18" or any "module:Class"
    script: Optional[str] = None  # a TorchScript file
    pickled: Optional[str] = None  # a whole module saved with torch.save(model): runs code, needs trust_pickle
    trust_pickle: bool = False
    options: dict[str, Any] = Field(default_factory=dict)  # builder keyword arguments
    checkpoint: Optional[str] = None  # path or URI of the weights (a state dict)
    input_channels: Optional[int] = Field(None, ge=1)  # repeat gray images to this many channels (3 for ImageNet models)
    n: int = Field(0, ge=0)  # training-set size, when known (0: unknown); the rows' `n`
    seed: Optional[Seed] = None  # seeds this model's attack starts; None: the spec's seed

    @model_validator(mode="after")
    def _one_source(self) -> "ModelSource":
        given = [k for k in SOURCES if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"models: {self.label!r} needs exactly one of arch (a registered model), builder, "
                             f"script (TorchScript) or pickled; got {', '.join(given) or 'none'}")
        if self.arch is not None and self.checkpoint is None:
            raise ValueError(f"models: {self.label!r} names arch {self.arch.name!r} but no checkpoint to load")
        if self.builder is not None and not _is_ref(self.builder):
            raise ValueError(f"models: builder {self.builder!r} must be torchvision:<fn>, timm:<name> or "
                             "module:Class (an importable class or function)")
        if (self.script or self.pickled) and self.checkpoint:
            raise ValueError(f"models: {self.label!r}: a TorchScript or pickled model carries its weights; "
                             "drop checkpoint")
        return self

    @property
    def arch_spec(self) -> ArchSpec:
        """What the rows' `arch` column shows: the registry entry, the builder with its options, or
        the kind and file name of a self-contained model."""
        if self.arch is not None:
            return self.arch
        if self.builder is not None:
            return ArchSpec(name=self.builder, options=self.options)
        kind, path = ("torchscript", self.script) if self.script else ("pickle", self.pickled)
        return ArchSpec(name=f"{kind}:{str(path).rstrip('/').rsplit('/', 1)[-1]}")


SOURCES = ("arch", "builder", "script", "pickled")


def _is_ref(ref: str) -> bool:
    module, sep, attr = ref.partition(":")
    return bool(sep and attr and all(part.isidentifier() for part in module.split(".")) and attr.isidentifier())


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
