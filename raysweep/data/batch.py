"""Data containers shared by every part of raysweep: a split held as tensors, and a batch of it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import torch

from raysweep.data.file_rows import FileRows


@dataclass
class Batch:
    """A batch on one device.

    x:   float images in [0,1], NCHW.
    y:   int64 labels [B].
    z:   float latent codes [B, d] where the true manifold is known (FONTS: theta), else None.
    ctx: int64 [B, k], the fixed part of the latent code (FONTS: font and class), else None.
    idx: int64 [B], row numbers in the split the batch came from.
    """

    x: torch.Tensor
    y: torch.Tensor
    z: Optional[torch.Tensor] = None
    ctx: Optional[torch.Tensor] = None
    idx: Optional[torch.Tensor] = None

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device: torch.device | str) -> "Batch":
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return Batch(move(self.x), move(self.y), move(self.z), move(self.ctx), move(self.idx))

    def select(self, mask_or_idx: torch.Tensor) -> "Batch":
        pick = lambda t: None if t is None else t[mask_or_idx]  # noqa: E731
        return Batch(pick(self.x), pick(self.y), pick(self.z), pick(self.ctx), pick(self.idx))

    def numbered(self) -> "Batch":
        """This batch with its rows numbered 0..B-1 when it carries no `idx` (records name samples by idx)."""
        if self.idx is not None:
            return self
        return Batch(self.x, self.y, self.z, self.ctx, torch.arange(len(self), device=self.x.device))

    def chunks(self, size: int) -> Iterator["Batch"]:
        """Consecutive pieces of at most `size` rows (the batch itself when it fits)."""
        for start in range(0, len(self), size):
            yield self.select(slice(start, start + size)) if len(self) > size else self

    @staticmethod
    def cat(batches: "list[Batch]") -> "Batch":
        """The rows of `batches` one after another (fields that are None in the first stay None)."""
        def join(name: str) -> Optional[torch.Tensor]:
            first = getattr(batches[0], name)
            return None if first is None else torch.cat([getattr(b, name) for b in batches])
        return Batch(join("x"), join("y"), join("z"), join("ctx"), join("idx"))


@dataclass
class Split:
    """One split (train or test) as tensors. Images stay uint8 until a batch is cut from them.

    rows: where x is memory-mapped from a cache file, the same rows read by explicit file reads
    (raysweep.data.file_rows). subset and batch then read their rows through it, so a process holds
    the rows it asked for and not the map's pages around them (the resident memory of a trial).
    """

    x: torch.Tensor  # uint8 [N, C, H, W]
    y: torch.Tensor  # int64 [N]
    z: Optional[torch.Tensor] = None  # float32 [N, d]
    ctx: Optional[torch.Tensor] = None  # int64 [N, k]
    rows: Optional[FileRows] = None  # the file behind x, if any (same content)

    def __len__(self) -> int:
        return self.y.shape[0]

    def images(self, idx: torch.Tensor) -> torch.Tensor:
        """x[idx] as a new tensor, read from the file when there is one (equal either way)."""
        return self.rows.take(idx) if self.rows is not None else self.x[idx]

    @property
    def images_source(self) -> "torch.Tensor | FileRows":
        """What streams all images with the least memory: the file's rows, else x itself."""
        return self.rows if self.rows is not None else self.x

    def batch(self, idx: torch.Tensor | slice | None = None, device: torch.device | str = "cpu") -> Batch:
        """Cut rows `idx` (all rows when None) and convert images to float [0,1] on `device`."""
        if idx is None:
            idx = torch.arange(len(self))
        elif isinstance(idx, slice):
            idx = torch.arange(len(self))[idx]
        pick = lambda t: None if t is None else t[idx].to(device)  # noqa: E731
        x = self.images(idx).to(device).float().div_(255.0)
        return Batch(x, pick(self.y), pick(self.z), pick(self.ctx), idx.to(device))

    def subset(self, idx: torch.Tensor) -> "Split":
        pick = lambda t: None if t is None else t[idx]  # noqa: E731
        return Split(self.images(idx), self.y[idx], pick(self.z), pick(self.ctx))

    def to(self, device: torch.device | str) -> "Split":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        keep = self.rows if torch.device(device).type == "cpu" else None  # x stays the mapped file on the CPU
        return Split(move(self.x), move(self.y), move(self.z), move(self.ctx), keep)
