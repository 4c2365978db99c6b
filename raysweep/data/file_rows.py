"""Rows of a cached .npy array read with explicit file reads, not through its memory map.

Why: every page of a memory-mapped file that a process touches counts in its resident set (and
its peak, VmHWM) for as long as the mapping lives. A FONTS-1000 trial that fancy-indexed its
40,000 training images out of the 750 MB map touched most of the file (the rows are spread over
it and the kernel reads ahead), and the kNN distance, which streams every training image, touched
all of it. Bytes read with read(2) go to the kernel's page cache, which is shared between the
trial processes of a machine and is not any process's resident memory, and then into a buffer
the trial owns and frees. The data stays memory-mapped as well (Split.x) for code that wants
the whole array; Split.subset/batch and the kNN distance go through FileRows.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch


_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


class FileRows:
    """The rows of a C-ordered .npy file: shape [N, ...], read on demand.

    Holds only the path and the layout (no open file), so it pickles and survives a fork.
    """

    def __init__(self, path: str | os.PathLike, offset: int, shape: tuple[int, ...], dtype: np.dtype):
        self.path, self.offset = str(path), int(offset)
        self.shape, self.dtype = tuple(int(s) for s in shape), np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    @classmethod
    def of_npy(cls, path: str | os.PathLike) -> "FileRows":
        """The layout of an .npy file, from its header (np.save writes C order)."""
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version not in _HEADERS:  # 3.0 only for non-ASCII field names, which no cache writes
                raise ValueError(f"{Path(path).name}: .npy format {version} is not supported")
            shape, fortran, dtype = _HEADERS[version](f)
            if fortran or dtype.hasobject or not shape:
                raise ValueError(f"{Path(path).name}: FileRows reads C-ordered numeric arrays with rows")
            return cls(path, f.tell(), shape, dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def _empty(self, n: int) -> np.ndarray:
        return np.empty((n, *self.shape[1:]), dtype=self.dtype)

    def _fill(self, f, out: np.ndarray, first: int) -> None:
        """Read len(out) consecutive rows starting at row `first` into `out`."""
        view = memoryview(out.reshape(-1).view(np.uint8))
        f.seek(self.offset + first * self.row_bytes)
        done = 0
        while done < len(view):  # a raw read may return fewer bytes than asked
            got = f.readinto(view[done:])
            if not got:
                raise EOFError(f"{self.path}: the file ends before row {first + len(out)}")
            done += got

    def read(self, start: int, stop: int) -> torch.Tensor:
        """Rows start..stop-1 (clipped to the array) as a new tensor, in one read."""
        start, stop = max(0, start), min(stop, len(self))
        out = self._empty(max(0, stop - start))
        if len(out):
            with open(self.path, "rb", buffering=0) as f:
                self._fill(f, out, start)
        return torch.from_numpy(out)

    def chunks(self, size: int) -> Iterator[tuple[int, torch.Tensor]]:
        """(first row, rows) for consecutive chunks of `size` rows: one chunk in memory at a time."""
        for start in range(0, len(self), size):
            yield start, self.read(start, start + size)

    def take(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows `idx` (any order, repeats allowed, negative from the end) as a new tensor; equal to
        torch.from_numpy(np.load(path))[idx]. Each run of consecutive rows is one read."""
        idx = torch.as_tensor(idx, dtype=torch.long).reshape(-1).cpu()
        n = len(self)
        if len(idx) and (int(idx.min()) < -n or int(idx.max()) >= n):
            raise IndexError(f"row index out of range for {n} rows")
        idx = torch.where(idx < 0, idx + n, idx)
        rows, inverse = torch.unique(idx, sorted=True, return_inverse=True)
        data = self._empty(len(rows))
        if len(rows):
            r = rows.numpy()
            breaks = np.flatnonzero(np.diff(r) != 1) + 1  # where a run of consecutive rows ends
            bounds = np.concatenate([[0], breaks, [len(r)]])
            with open(self.path, "rb", buffering=0) as f:
                for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
                    self._fill(f, data[a:b], int(r[a]))
        out = torch.from_numpy(data)
        if len(rows) == len(idx) and bool((rows == idx).all()):
            return out  # already sorted and unique: no reordering copy
        return out[inverse]
