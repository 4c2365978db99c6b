"""An on-disk cache of generated or decoded data sets, safe for concurrent writers.

An entry is a directory `<root>/<kind>/<key>/` of .npy arrays, Parquet tables and meta.json.
It is built under a temporary name in the same folder and renamed into place in one step, so a
reader sees either no entry or a complete one. When two processes build the same entry at once,
the first rename wins and the loser discards its copy (same key -> same content).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import numpy as np
import pandas as pd
import pyarrow as pa

from raysweep._core import storage
from raysweep.data.file_rows import FileRows
from raysweep._core.errors import UserError

ENV_CACHE = "RAYSWEEP_CACHE"


def cache_root(cache_dir: Optional[str | os.PathLike] = None) -> Path:
    """The cache folder: `cache_dir`, else $RAYSWEEP_CACHE, else ~/.cache/raysweep."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get(ENV_CACHE)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "raysweep"


def check_folder_options(dataset: str, **folders: Any) -> None:
    """Folder options of a data set (root, cache_dir) are paths or unset: `root: 5` in a spec
    would otherwise reach os.path deep inside a loader as a TypeError."""
    for name, value in folders.items():
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise UserError(f"{dataset} option {name} must be a folder path, got {value!r}; fix the value")


def hash_files(paths: Iterable[str | os.PathLike], extra: Any = None) -> str:
    """sha256 over the bytes of `paths` (in the given order) and a JSON-able `extra`."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(hashlib.file_digest(f, "sha256").digest())
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()


class Entry:
    """A complete cache entry: arrays load memory-mapped (copy-on-write), tables via pyarrow."""

    def __init__(self, path: Path):
        self.path = path

    def array(self, name: str) -> np.ndarray:
        # mmap "c": pages load lazily (1M images open in milliseconds) and the array is writable
        # in memory without touching the file, so torch.from_numpy takes it without a warning.
        return np.load(self.path / f"{name}.npy", mmap_mode="c")

    def rows(self, name: str) -> FileRows:
        """The same array read row-wise by explicit file reads (no map pages; raysweep.data.file_rows)."""
        return FileRows.of_npy(self.path / f"{name}.npy")

    def table(self, name: str) -> pd.DataFrame:
        frame = pd.read_parquet(self.path / f"{name}.parquet")
        # Arrow's allocator keeps the freed Arrow table (FONTS-1000's training latents: 100 MB)
        # for reuse; the DataFrame is a NumPy copy, so hand that memory back now.
        pa.default_memory_pool().release_unused()
        return frame

    @property
    def meta(self) -> dict[str, Any]:
        return json.loads((self.path / "meta.json").read_text())


class EntryWriter:
    """What a builder writes into the temporary entry folder."""

    def __init__(self, path: Path):
        self.path = path

    def array(self, name: str, value: np.ndarray) -> None:
        np.save(self.path / f"{name}.npy", np.ascontiguousarray(value))

    def table(self, name: str, frame: pd.DataFrame) -> None:
        frame.to_parquet(self.path / f"{name}.parquet", index=False)

    def meta(self, value: dict[str, Any]) -> None:
        (self.path / "meta.json").write_text(json.dumps(value, indent=1, sort_keys=True))


def cached(kind: str, key: str, build: Callable[[EntryWriter], None], cache_dir: Optional[str | os.PathLike] = None) -> tuple[Entry, bool]:
    """Return (entry, built_now): the entry `<kind>/<key>`, calling `build` only when absent."""
    final = cache_root(cache_dir) / kind / key
    if final.is_dir():
        return Entry(final), False
    try:  # before building: an unwritable cache must fail before minutes of decoding, not after
        final.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(final.parent, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as e:
        raise UserError(f"cache folder {final.parent} is not writable ({e.strerror or e}); set {ENV_CACHE} "
                        "(or --cache-dir) to a writable folder") from None
    built = storage.publish_dir(final, lambda tmp: build(EntryWriter(tmp)))  # atomic rename, race-safe
    return Entry(final), built
