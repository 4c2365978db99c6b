"""Data sets of raysweep: FONTS (generated, true manifold known) and EMNIST, Fashion-MNIST and
CelebA (read from a data root). Importing the package registers them in DATASETS."""
from typing import Any

from raysweep.data import fonts_dataset, real  # noqa: F401  (register "fonts", "emnist", "fmnist", "celeba")
from raysweep.data.dataset import DATASETS, Dataset


def load_dataset(name: str, **options: Any) -> Dataset:
    """Build a registered data set by name (this package's import registers the built-in ones)."""
    return DATASETS.build(name, **options)


__all__ = ["DATASETS", "Dataset", "load_dataset"]
