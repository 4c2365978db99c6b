"""Fashion-MNIST (Sec. 3.1 of the paper: 60k train / 10k test, 28x28, 10 classes), found with no
manual step and checked before use.

Search order (the first that applies wins):
1. `root` (the spec's `dataset.options.root`, `--data-root` on the command line): the files must
   be there; an explicit root never falls back, so a sweep reads the data its spec names.
2. `$RAYSWEEP_DATA`, when it holds any of the four files (set for EMNIST or CelebA alone, it
   does not hide the Debian copy).
3. Debian's package `dataset-fashion-mnist` (`make fmnist` installs it): DEBIAN_DIR holds the four
   original gzip IDX files.
Under a root (1, 2) the files lie in torchvision's `FashionMNIST/raw/` or in the root itself (a
copy of the Debian folder); each file may be the raw IDX file or its `.gz` (raw wins when both).

Checks, each a one-line UserError that names the file and the fix: unreadable gzip, an IDX header
that is not the expected kind or shape, a payload cut short or too long, images and labels that
disagree in count, labels outside 0..9, and a file whose header claims the released count
(60,000 or 10,000) but whose bytes differ from the released file's (sha256 pinned below). Smaller
files (subsets, test fixtures) are read on structure alone; the data hash says what was read.
Nothing is written anywhere: gzip files are decompressed in memory.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from raysweep.data.batch import Split
from raysweep.data.dataset import Dataset
from raysweep._core.errors import UserError

ENV_DATA = "RAYSWEEP_DATA"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"
TORCHVISION_FOLDER = "FashionMNIST/raw"
N_CLASSES = 10

# The released files, uncompressed: (bytes, sha256). Computed from Debian's dataset-fashion-mnist
# 0.0~git20200523.55506a9-1; the IDX bytes are those of Zalando's release and of torchvision's
# download (Debian re-gzipped them without the file name, so its .gz are 23-24 bytes shorter:
# 26,421,856 / 29,491 / 4,422,079 / 5,125 bytes), hence pins on the uncompressed bytes.
RELEASED = {
    "train-images-idx3-ubyte": (47_040_016, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train-labels-idx1-ubyte": (60_008, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "t10k-images-idx3-ubyte": (7_840_016, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "t10k-labels-idx1-ubyte": (10_008, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}
FILES = tuple(RELEASED)  # train images, train labels, test images, test labels (hash order)
RELEASED_COUNT = {"train": 60_000, "t10k": 10_000}


@dataclass(frozen=True)
class Found:
    """Where the four files are: folder, which rule of the search order found it, the fix for bad
    files there, and each file's path (raw IDX or .gz)."""

    folder: Path
    source: str  # "root", "RAYSWEEP_DATA" or "debian"
    fix: str
    paths: dict[str, Path]


def _fix(source: str, base: Path) -> str:
    if source == "debian":
        return f"reinstall it: `apt-get install --reinstall {DEBIAN_PACKAGE}` as root (or `make fmnist`)"
    return (f"delete the Fashion-MNIST files there and run `raysweep data fetch fmnist --data-root {base}` "
            f"(or remove them and run `make fmnist`)")


def _present(folder: Path) -> dict[str, Path]:
    """name -> path of each of the four files in folder (raw IDX preferred over .gz)."""
    out = {}
    for name in FILES:
        for path in (folder / name, folder / f"{name}.gz"):
            if path.is_file():
                out[name] = path
                break
    return out


def _in_base(base: Path, source: str) -> Optional[Found]:
    """The files under a root (torchvision's layout, else the root itself); None when neither
    holds any of them; some but not all is a UserError naming the missing ones."""
    for folder in (base / TORCHVISION_FOLDER, base):
        paths = _present(folder)
        if paths:
            missing = [f"{name}[.gz]" for name in FILES if name not in paths]
            if missing:
                raise UserError(f"fmnist is incomplete in {folder}: expected {', '.join(missing)} beside the others; "
                                f"{_fix(source, base)}")
            return Found(folder, source, _fix(source, base), paths)
    return None


def locate(root: Optional[str | os.PathLike] = None) -> Found:
    """The four files by the module's search order, or a UserError that names the places searched."""
    if root:
        base = Path(root).expanduser()
        found = _in_base(base, "root")
        if found is None:
            raise UserError(f"fmnist is missing under {base}: expected {TORCHVISION_FOLDER}/{{{','.join(FILES)}}}[.gz]; "
                            f"run `raysweep data fetch fmnist --data-root {base}`, or `make fmnist` and drop the root")
        return found
    searched = []
    env = os.environ.get(ENV_DATA)
    if env:
        found = _in_base(Path(env).expanduser(), ENV_DATA)
        if found is not None:
            return found
        searched.append(f"${ENV_DATA}={env}")
    if _present(DEBIAN_DIR):
        found = _in_base(DEBIAN_DIR, "debian")
        assert found is not None
        return found
    searched.append(str(DEBIAN_DIR))
    raise UserError(f"fmnist not found (searched {', '.join(searched)}); run `make fmnist` (installs Debian's "
                    f"{DEBIAN_PACKAGE}) or pass --data-root DIR (`raysweep data fetch fmnist --data-root DIR`)")


def _read_bytes(path: Path, fix: str) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        return gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError; a cut file an EOFError
        raise UserError(f"{path} is not a readable gzip file ({type(e).__name__}: {e}); {fix}") from None


def _parse(data: bytes, path: Path, ndim: int, fix: str) -> np.ndarray:
    """The IDX format: bytes 0, 0, 0x08 (unsigned byte), ndim; ndim big-endian uint32 sizes; data."""
    if len(data) < 4 or data[:3] != b"\x00\x00\x08" or data[3] != ndim:
        raise UserError(f"{path} is unreadable: not an IDX file of unsigned bytes with {ndim} dimension(s) "
                        f"(header {data[:4].hex() or 'empty'}); {fix}")
    head = 4 + 4 * ndim
    dims = tuple(int(d) for d in np.frombuffer(data[4:head], dtype=">u4")) if len(data) >= head else ()
    if len(dims) != ndim or (ndim == 3 and dims[1:] != (28, 28)):
        raise UserError(f"{path} has IDX dimensions {dims}, not [N, 28, 28] images or [N] labels; {fix}")
    want = head + int(np.prod(dims))
    if len(data) != want:
        how = "cut short" if len(data) < want else "longer than its header says"
        raise UserError(f"{path} is {how}: {len(data)} bytes where its header {dims} needs {want}; {fix}")
    return np.frombuffer(data, dtype=np.uint8, offset=head).reshape(dims)


def _check_released(name: str, data: bytes, count: int, path: Path, fix: str) -> bool:
    """True when the file is the released one; a file with the released count but other bytes
    (altered, or another data set of the same size such as MNIST) is a UserError."""
    if count != RELEASED_COUNT[name.split("-")[0]]:
        return False
    size, sha = RELEASED[name]
    if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
        raise UserError(f"{path} has the released file's {count} entries but not its sha256 (altered, or not "
                        f"Fashion-MNIST); {fix}")
    return True


def _split(found: Found, images: str, labels: str, arrays: dict[str, np.ndarray]) -> Split:
    x, y = arrays[images], arrays[labels]
    if len(x) != len(y):
        raise UserError(f"{found.paths[images]} holds {len(x)} images but {found.paths[labels].name} holds "
                        f"{len(y)} labels; {found.fix}")
    if len(y) and int(y.max()) >= N_CLASSES:
        raise UserError(f"{found.paths[labels]} has label {int(y.max())}, outside 0..{N_CLASSES - 1}; {found.fix}")
    return Split(x=torch.from_numpy(x.copy()).unsqueeze(1), y=torch.from_numpy(y.astype(np.int64)))


def load_fmnist(root: Optional[str | os.PathLike] = None) -> Dataset:
    """Fashion-MNIST from the first place of the search order; uint8 images [N, 1, 28, 28].

    The data hash is raysweep.data.cache.hash_files over the four uncompressed files, so the same
    bytes give the same hash wherever they were found and however they were compressed."""
    found = locate(root)
    h = hashlib.sha256()
    arrays, released = {}, []
    for name in FILES:
        data = _read_bytes(found.paths[name], found.fix)
        arrays[name] = _parse(data, found.paths[name], 3 if "images" in name else 1, found.fix)
        released.append(_check_released(name, data, len(arrays[name]), found.paths[name], found.fix))
        h.update(hashlib.sha256(data).digest())
    h.update(json.dumps({"name": "fmnist"}, sort_keys=True).encode())
    train, test = _split(found, *FILES[:2], arrays), _split(found, *FILES[2:], arrays)
    meta = {"root": str(found.folder), "source": found.source, "files": [found.paths[n].name for n in FILES],
            "released": all(released)}
    return Dataset("fmnist", train, test, N_CLASSES, h.hexdigest(), meta)
