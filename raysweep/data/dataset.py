"""The Dataset every data source returns, and the registry of data sets by name."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from raysweep.data.batch import Split
from raysweep._core.registry import Registry


@dataclass
class Dataset:
    """A data set as in-memory tensors.

    name:        registry name ("fonts", "emnist", "fmnist", "celeba").
    train, test: the splits; images uint8 NCHW (28x28, or 56x48 for CelebA).
    n_classes:   number of labels.
    data_hash:   a stable hash of the data's content (FONTS: the used fonts' bytes in order, via
                 the font manifest, + options; real data sets: their source files).
    meta:        anything else worth recording (FONTS: preset name, font names, prototypes,
                 manifest_path). `meta["content_hash"]` is always set, equal to data_hash: the
                 key to record with every result the data produced.
    """

    name: str
    train: Split
    test: Split
    n_classes: int
    data_hash: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.meta.setdefault("content_hash", self.data_hash)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.x.shape[1:])  # type: ignore[return-value]


# factory(**options) -> Dataset. Options come from the sweep spec's `dataset:` block
# (e.g. preset, root, train_size); every factory accepts `root` and `cache_dir`.
DATASETS: Registry[Dataset] = Registry("dataset")
