"""EMNIST (digits, 240k/40k), Fashion-MNIST (60k/10k) and CelebA (Male vs Female at 56x48,
182k/20k): the paper's real data sets (Sec. 3.1). EMNIST and CelebA are read through
torchvision's dataset classes from a data root (`root=`, else $RAYSWEEP_DATA); Fashion-MNIST is
found by raysweep.data.fmnist (root, $RAYSWEEP_DATA, then Debian's dataset-fashion-mnist). Nothing
is downloaded here; `raysweep data fetch` does that on request.

Layouts under the root are torchvision's: EMNIST/raw/emnist-digits-*-ubyte,
FashionMNIST/raw/*-ubyte (gzip-only copies are unpacked on first use), and celeba/ with
img_align_celeba/ and the five list files. CelebA's 200k JPEGs are decoded once and cached.
"""
from __future__ import annotations

import gzip
import os
import shutil
import threading
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from raysweep.data import cache
from raysweep.data.batch import Split
from raysweep.data.dataset import DATASETS, Dataset
from raysweep.data.fmnist import load_fmnist
from raysweep._core.errors import UserError

ENV_DATA = "RAYSWEEP_DATA"
CELEBA_SIZE = (56, 48)  # (H, W), the paper's resolution
CELEBA_FILES = (
    "list_attr_celeba.txt",
    "identity_CelebA.txt",
    "list_bbox_celeba.txt",
    "list_landmarks_align_celeba.txt",
    "list_eval_partition.txt",
)
CELEBA_FORMAT_VERSION = 1


def data_root(root: Optional[str | os.PathLike]) -> Path:
    """The data root: `root`, else $RAYSWEEP_DATA; neither set is a UserError."""
    value = root or os.environ.get(ENV_DATA)
    if not value:
        raise UserError(f"no data root: pass --data-root DIR (or `root:` in the spec) or set {ENV_DATA}")
    return Path(value).expanduser()


def _missing_error(name: str, root: Path, missing: list[str]) -> UserError:
    return UserError(
        f"{name} is missing or incomplete under {root}: expected {', '.join(missing)}; "
        f"run `raysweep data fetch {name} --data-root {root}`"
    )


def _gunzip_if_needed(path: Path, name: str, root: Path) -> None:
    """Unpack path.gz to path when only the gzip exists (atomic: temp name, then rename); a file
    that is not gzip, or is cut short, is a UserError and leaves nothing behind."""
    gz = path.with_name(path.name + ".gz")
    if path.exists() or not gz.exists():
        return
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        with gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, path)
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError; a cut file an EOFError
        tmp.unlink(missing_ok=True)
        raise UserError(f"{gz} is not a readable gzip file ({type(e).__name__}: {e}); delete it and run "
                        f"`raysweep data fetch {name} --data-root {root}`") from None


@dataclass(frozen=True)
class MnistLike:
    """An IDX-format data set that torchvision reads from `<root>/<folder>/raw/`."""

    name: str
    folder: str  # torchvision's class name, which is also its folder
    files: tuple[str, str, str, str]  # train images, train labels, test images, test labels
    transposed: bool  # EMNIST stores images transposed; we turn them upright

    def _torchvision(self, root: Path, train: bool):
        from torchvision import datasets  # lazy: 2.0 s at import (measured), for EMNIST/CelebA reads only

        if self.folder == "EMNIST":
            return datasets.EMNIST(str(root), split="digits", train=train, download=False)
        return getattr(datasets, self.folder)(str(root), train=train, download=False)

    def _split(self, root: Path, train: bool) -> Split:
        try:
            ds = self._torchvision(root, train)
        except (RuntimeError, ValueError, TypeError, AssertionError) as e:
            raise UserError(
                f"{self.name} files under {root / self.folder / 'raw'} are unreadable ({e}); "
                f"delete them and run `raysweep data fetch {self.name} --data-root {root}`"
            ) from None
        if len(ds.data) != len(ds.targets):  # torchvision reads both without comparing counts
            images, labels = (self.files[:2] if train else self.files[2:])
            raise UserError(f"{self.name}: {self.folder}/raw/{images} holds {len(ds.data)} images but {labels} holds "
                            f"{len(ds.targets)} labels; delete both and run `raysweep data fetch {self.name} "
                            f"--data-root {root}`")
        x = ds.data.transpose(1, 2) if self.transposed else ds.data  # [N, 28, 28] uint8
        return Split(x=x.contiguous().unsqueeze(1), y=ds.targets.long())

    def load(self, root: Optional[str | os.PathLike]) -> Dataset:
        base = data_root(root)
        raw = base / self.folder / "raw"
        for f in self.files:
            _gunzip_if_needed(raw / f, self.name, base)
        missing = [f"{self.folder}/raw/{f}[.gz]" for f in self.files if not (raw / f).is_file()]
        if missing:
            raise _missing_error(self.name, base, missing)
        data_hash = cache.hash_files([raw / f for f in self.files], {"name": self.name})
        train, test = self._split(base, True), self._split(base, False)
        return Dataset(self.name, train, test, 10, data_hash, {"root": str(base), "files": list(self.files)})


EMNIST = MnistLike(
    "emnist",
    "EMNIST",
    tuple(f"emnist-digits-{s}-{k}-ubyte" for s in ("train", "test") for k in ("images-idx3", "labels-idx1")),  # type: ignore[arg-type]
    transposed=True,
)
# Fashion-MNIST's torchvision layout (what `data fetch` writes); loading is raysweep.data.fmnist.
FMNIST = MnistLike(
    "fmnist",
    "FashionMNIST",
    tuple(f"{s}-{k}-ubyte" for s in ("train", "t10k") for k in ("images-idx3", "labels-idx1")),  # type: ignore[arg-type]
    transposed=False,
)


def _no_options(name: str, options: dict[str, Any], root: Any = None, cache_dir: Any = None) -> None:
    """The data-free check of a real data set's options (its registry entry's `check`)."""
    if options:
        raise UserError(f"{name} takes only the options root and cache_dir, not {sorted(options)}")
    cache.check_folder_options(name, root=root, cache_dir=cache_dir)


@DATASETS.register("emnist", "EMNIST digits, 240k/40k, 28x28, read from the data root",
                   check=lambda root=None, cache_dir=None, **options: _no_options("emnist", options, root, cache_dir))
def build_emnist(root: Optional[str] = None, cache_dir: Optional[str] = None, **options: Any) -> Dataset:
    _no_options("emnist", options, root, cache_dir)
    return EMNIST.load(root)


@DATASETS.register("fmnist", "Fashion-MNIST, 60k/10k, 28x28, from the data root or Debian's dataset-fashion-mnist",
                   check=lambda root=None, cache_dir=None, **options: _no_options("fmnist", options, root, cache_dir))
def build_fmnist(root: Optional[str] = None, cache_dir: Optional[str] = None, **options: Any) -> Dataset:
    _no_options("fmnist", options, root, cache_dir)
    return load_fmnist(root)


def _celeba_class():
    from torchvision.datasets import CelebA  # lazy, as in _torchvision

    class CelebAFiles(CelebA):
        """torchvision's CelebA, checking that files exist instead of their md5 sums: hashing the
        release files on every load is slow, and test fixtures are small stand-ins. `raysweep
        data fetch celeba` downloads with torchvision's md5 checks."""

        def _check_integrity(self) -> bool:
            folder = Path(self.root) / self.base_folder
            return all((folder / f).is_file() for f in CELEBA_FILES) and (folder / "img_align_celeba").is_dir()

        def partition(self) -> torch.Tensor:
            """0 train, 1 valid, 2 test per image (split="all" order)."""
            return self._load_csv("list_eval_partition.txt").data[:, 0]

    return CelebAFiles


def _resize(image) -> np.ndarray:
    """PIL image -> uint8 [3, 56, 48]; JPEG draft mode decodes at reduced size (much faster)."""
    h, w = CELEBA_SIZE
    image.draft("RGB", (2 * w, 2 * h))
    image = image.convert("RGB").resize((w, h), resample=2)  # 2 = bilinear, anti-aliased in Pillow
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


def _build_celeba(base: Path, w: cache.EntryWriter) -> None:
    ds = _celeba_class()(str(base), split="all", target_type="attr", transform=_resize)
    if "Male" not in ds.attr_names:
        raise UserError(f"{base / 'celeba' / 'list_attr_celeba.txt'} has no Male column; re-fetch CelebA")

    images = np.empty((len(ds), 3, *CELEBA_SIZE), dtype=np.uint8)  # 1.6 GB for all of CelebA
    failed = threading.Event()  # after the first bad file the other threads stop decoding

    def decode(i: int) -> None:
        # Every JPEG is fully decoded here, once, while the cache entry is built (a load reads the
        # cached arrays), so a corrupt or truncated file costs nothing extra to find.
        if failed.is_set():
            return
        try:
            images[i] = ds[i][0]
        except FileNotFoundError:
            failed.set()
            raise _missing_error("celeba", base, [f"celeba/img_align_celeba/{ds.filename[i]}"]) from None
        except (OSError, ValueError, SyntaxError) as e:  # PIL: unidentified, truncated or broken images
            failed.set()
            path = base / "celeba" / "img_align_celeba" / ds.filename[i]
            why = type(e).__name__ if str(path) in str(e) else f"{type(e).__name__}: {e}"
            raise UserError(f"{path} is not a readable JPEG ({why}); replace it from the "
                            f"CelebA release or re-run `raysweep data fetch celeba --data-root {base}`") from None

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # PIL releases the GIL
        list(pool.map(decode, range(len(ds))))
    w.array("images", images)
    w.array("labels", ds.attr[:, ds.attr_names.index("Male")].numpy().astype(np.int64))
    w.array("partition", ds.partition().numpy().astype(np.int64))
    w.meta({"files": len(ds), "size": list(CELEBA_SIZE)})


def _celeba_key(base: Path) -> str:
    folder = base / "celeba"
    images = sorted((e.name, e.stat().st_size) for e in os.scandir(folder / "img_align_celeba"))
    extra = {"images": images, "size": CELEBA_SIZE, "version": CELEBA_FORMAT_VERSION}
    return cache.hash_files([folder / f for f in CELEBA_FILES], extra)


@DATASETS.register("celeba", "CelebA Male vs Female, 182k/20k, 3x56x48, read from the data root",
                   check=lambda root=None, cache_dir=None, **options: _no_options("celeba", options, root, cache_dir))
def build_celeba(root: Optional[str] = None, cache_dir: Optional[str] = None, **options: Any) -> Dataset:
    """Train = CelebA's train + valid partitions (182,637), test = its test partition (19,962)."""
    _no_options("celeba", options, root, cache_dir)
    base = data_root(root)
    folder = base / "celeba"
    missing = [f"celeba/{f}" for f in CELEBA_FILES if not (folder / f).is_file()]
    if not (folder / "img_align_celeba").is_dir():
        missing.append("celeba/img_align_celeba/")
    if missing:
        raise _missing_error("celeba", base, missing)
    key = _celeba_key(base)
    entry, _ = cache.cached("celeba", key, lambda w: _build_celeba(base, w), cache_dir)
    x, y = torch.from_numpy(entry.array("images")), torch.from_numpy(entry.array("labels"))
    test = torch.from_numpy(entry.array("partition")) == 2
    split = lambda m: Split(x=x[m], y=y[m])  # noqa: E731
    meta: dict[str, Any] = {"root": str(base), "classes": ["female", "male"], "cache_path": str(entry.path)}
    return Dataset("celeba", split(~test), split(test), 2, key, meta)
