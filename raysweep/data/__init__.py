"""Data sets of raysweep: FONTS (generated, true manifold known) and EMNIST, Fashion-MNIST and
CelebA (read from a data root). Importing the package registers them in DATASETS."""
from raysweep.data import fonts_dataset, real  # noqa: F401  (register "fonts", "emnist", "fmnist", "celeba")
from raysweep.data.dataset import DATASETS, Dataset, load_dataset  # noqa: F401
