"""A data set in torchvision's ImageFolder layout: root/train/<class>/<image> and
root/test/<class>/<image> (any format PIL reads), classes named alike in both splits.

Images are resized to `size` x `size`, converted to gray (`channels: 1`) or RGB (3), and held
as uint8 NCHW tensors, as every raysweep data set is. The content hash covers every file's
relative path and bytes, so rows name the data they came from, not the folder it lives in.

    dataset: {name: imagefolder, options: {root: /data/my-set, size: 28, channels: 1}}
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from raysweep.data.batch import Split
from raysweep.data.dataset import DATASETS, Dataset
from raysweep import UserError

SPLITS = ("train", "test")


def check(root: Optional[str] = None, size: int = 28, channels: int = 1, cache_dir: Optional[str] = None) -> None:
    """The options a spec gives, checked without reading an image (raysweep.resolve.validate calls this)."""
    if root is None:
        raise UserError("imagefolder needs options.root: a folder with train/ and test/ class folders")
    missing = [s for s in SPLITS if not (Path(root).expanduser() / s).is_dir()]
    if missing:
        raise UserError(f"imagefolder root {root!r} has no {', '.join(missing)} folder; use the ImageFolder "
                        "layout root/train/<class>/*.png and root/test/<class>/*.png")
    if not isinstance(size, int) or size < 1 or channels not in (1, 3):
        raise UserError(f"imagefolder needs size >= 1 and channels 1 or 3, got size={size!r}, channels={channels!r}")


def _split(folder: Path, size: int, channels: int) -> tuple[Split, list[str]]:
    from torchvision.datasets import ImageFolder
    from torchvision.transforms import functional as TF

    mode = "L" if channels == 1 else "RGB"
    ds = ImageFolder(str(folder), loader=lambda p: __import__("PIL.Image").Image.open(p).convert(mode))
    images = [np.asarray(TF.resize(img, [size, size])) for img, _ in ds]
    x = torch.from_numpy(np.stack(images)).reshape(len(images), size, size, channels).permute(0, 3, 1, 2)
    return Split(x.contiguous(), torch.tensor(ds.targets, dtype=torch.int64)), ds.classes


def content_hash(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for s in SPLITS for p in (root / s).rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


@DATASETS.register("imagefolder", "images in torchvision's ImageFolder layout (root/train, root/test; example plugin)",
                   check=check)
def imagefolder(root: Optional[str] = None, size: int = 28, channels: int = 1,
                cache_dir: Optional[str] = None) -> Dataset:
    check(root, size, channels)
    base = Path(root).expanduser()
    train, classes = _split(base / "train", size, channels)
    test, test_classes = _split(base / "test", size, channels)
    if classes != test_classes:
        raise UserError(f"imagefolder {root!r}: train classes {classes} differ from test classes {test_classes}")
    return Dataset("imagefolder", train, test, len(classes), content_hash(base), meta={"classes": classes})


def write_demo_folder(root: str | Path, per_class: tuple[int, int] = (12, 4), seed: int = 0) -> Path:
    """A tiny two-class set in the layout above (a bright bar or a bright square on noise, 32x32
    PNGs), for the plugin's tests and the README's walkthrough; returns `root`."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    root = Path(root)
    for split, n in zip(SPLITS, per_class):
        for c, name in enumerate(("bar", "square")):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = rng.integers(0, 60, (32, 32), dtype=np.uint8)
                if c == 0:
                    img[14:18, 4:28] = 255
                else:
                    img[12:20, 12:20] = 255
                Image.fromarray(img).save(folder / f"{i}.png")
    return root
