"""Storage: a local path or a pyarrow.fs URI (s3://, gs://) resolved once, and atomic I/O on it.

Every writer of raysweep goes through here: result tables, VAE-GAN checkpoints, training states,
lambda tables, counters. A write goes to a temporary name beside the target (a leading ".", which
pyarrow.dataset and pandas skip) and is then renamed, so a reader sees the old file, the new file
or nothing, never half a file; locally the bytes are fsynced before the rename, so a crash right
after it cannot leave an empty file under the final name.

    loc = resolve("s3://bucket/prefix")      # or "results", "~/runs"
    atomic_write_bytes(loc / "a/b.pt", data)
    read_bytes(loc / "a/b.pt")               # None when absent

The one exception is the data cache (raysweep.data.cache): its arrays are memory-mapped, so it
is local by nature and publishes whole directories with `publish_dir`.
"""
from __future__ import annotations

import io
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raysweep._core.errors import UserError


@dataclass(frozen=True)
class Location:
    """A resolved place in storage: the filesystem and the path inside it ("/"-joined).

    `uri` is what to hand to another process (Tune's storage_path, a Ray actor): the original
    URI for object stores, the absolute path locally.
    """

    fs: pafs.FileSystem
    path: str
    scheme: str = ""  # "" for local, else e.g. "s3"
    query: str = ""  # URI options (?endpoint_override=...), kept for other processes

    @property
    def is_local(self) -> bool:
        return not self.scheme

    @property
    def uri(self) -> str:
        if self.is_local:
            return self.path
        return f"{self.scheme}://{self.path}" + (f"?{self.query}" if self.query else "")

    def __truediv__(self, part: str) -> "Location":
        return Location(self.fs, f"{self.path.rstrip('/')}/{part.strip('/')}", self.scheme, self.query)

    @property
    def parent(self) -> "Location":
        return Location(self.fs, self.path.rstrip("/").rsplit("/", 1)[0], self.scheme, self.query)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]


def resolve(where: str | Location) -> Location:
    """Resolve a local path (made absolute, ~ expanded) or a URI; a bad URI is a UserError."""
    if isinstance(where, Location):
        return where
    where = str(where)
    if not where.strip():
        raise UserError("storage: empty path; give a folder (results) or a URI (s3://bucket/prefix)")
    if "://" not in where:
        return Location(pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(where)))
    scheme = where.split("://", 1)[0]
    try:
        fs, path = pafs.FileSystem.from_uri(where)
    except (pa.ArrowInvalid, OSError) as e:
        raise UserError(f"storage: cannot open {where!r} ({e}); use a local path or s3://bucket/prefix") from None
    query = where.split("?", 1)[1] if "?" in where else ""
    return Location(fs, path.rstrip("/"), scheme, query)


def is_local(where: str | Location) -> bool:
    """Whether `where` is a local path, decided from the string alone (opens no filesystem)."""
    return where.is_local if isinstance(where, Location) else "://" not in str(where)


def join(where: str | Location, *parts: str) -> str:
    """`where` / parts as a string other processes can open, without opening the filesystem
    (resolving an s3:// URI asks the network for the bucket's region)."""
    if isinstance(where, Location):
        return Location(where.fs, "/".join([where.path.rstrip("/"), *(p.strip("/") for p in parts)]),
                        where.scheme, where.query).uri
    base, _, query = str(where).partition("?")
    if is_local(base):
        return os.path.join(os.path.abspath(os.path.expanduser(base)), *parts)
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)]) + (f"?{query}" if query else "")


def uri(where: str | Location) -> str:
    """The resolved form other processes should receive (absolute local path, or the URI)."""
    return resolve(where).uri


def exists(where: str | Location) -> bool:
    loc = resolve(where)
    return loc.fs.get_file_info(loc.path).type != pafs.FileType.NotFound


def is_dir(where: str | Location) -> bool:
    loc = resolve(where)
    return loc.fs.get_file_info(loc.path).type == pafs.FileType.Directory


def list_dir(where: str | Location) -> list[pafs.FileInfo]:
    """Entries directly under a folder (empty when it does not exist)."""
    loc = resolve(where)
    if not is_dir(loc):
        return []
    return loc.fs.get_file_info(pafs.FileSelector(loc.path, recursive=False))


def make_dir(where: str | Location) -> None:
    loc = resolve(where)
    loc.fs.create_dir(loc.path, recursive=True)


def delete_dir(where: str | Location) -> None:
    loc = resolve(where)
    if is_dir(loc):
        loc.fs.delete_dir(loc.path)


def move_dir(src: str | Location, dst: str | Location, last: Optional[str] = None) -> None:
    """Rename the folder `src` to `dst` (absent) on one filesystem. Locally one atomic rename.
    Object stores have no folders (pyarrow's S3 `move` of a prefix fails with NO_SUCH_KEY), so
    there each file is copied, the one named `last` after all others (a reader taking it as the
    mark of a complete folder never sees half a copy), and then `src` is deleted. Decided by the
    filesystem, not the scheme, so a Location built from a bare (fs, path) works too."""
    s, d = resolve(src), resolve(dst)
    if s.fs.type_name == "local":
        s.fs.move(s.path, d.path)
        return
    root = s.path.rstrip("/")
    files = [i.path for i in s.fs.get_file_info(pafs.FileSelector(root, recursive=True)) if i.type == pafs.FileType.File]
    files.sort(key=lambda f: f.rsplit("/", 1)[-1] == last)  # False < True: `last` goes last
    for f in files:
        target = d.path.rstrip("/") + f[len(root):]
        s.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)  # a no-op on S3; needed elsewhere
        s.fs.copy_file(f, target)
    s.fs.delete_dir(root)


def _write_with(loc: Location, write: Callable[[Any], None]) -> None:
    """Write through `write(stream)` to a temporary sibling, then rename it onto `loc`."""
    loc.fs.create_dir(loc.parent.path, recursive=True)
    tmp = loc.parent / f".tmp-{uuid.uuid4().hex}-{loc.name}"
    try:
        if loc.is_local:  # fsync before the rename: a crash then leaves the old file or the new one
            with open(tmp.path, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
        else:
            with loc.fs.open_output_stream(tmp.path) as f:
                write(f)
        loc.fs.move(tmp.path, loc.path)  # atomic rename locally; copy + delete on object stores
    except BaseException:
        if exists(tmp):
            loc.fs.delete_file(tmp.path)
        raise


def atomic_write_bytes(where: str | Location, data: bytes) -> None:
    _write_with(resolve(where), lambda f: f.write(data))


def read_bytes(where: str | Location) -> Optional[bytes]:
    """The file's bytes, or None when it does not exist."""
    loc = resolve(where)
    if not exists(loc):
        return None
    with loc.fs.open_input_stream(loc.path) as f:
        return f.read()


def write_parquet(where: str | Location, table: pa.Table) -> None:
    _write_with(resolve(where), lambda f: pq.write_table(table, f))


def read_parquet(where: str | Location) -> Optional[pa.Table]:
    data = read_bytes(where)
    return None if data is None else pq.read_table(pa.BufferReader(data))


def save_torch(where: str | Location, obj: Any) -> None:
    """torch.save to storage atomically (tensors, state dicts and plain containers only)."""
    import torch  # lazy: about 3 s at import (measured); `raysweep tables` and the readers never need it

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(where, buf.getvalue())


def load_torch(where: str | Location) -> Optional[Any]:
    """torch.load with weights_only=True (no pickled code runs), on CPU; None when absent."""
    import torch  # lazy, as in save_torch

    data = read_bytes(where)
    return None if data is None else torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def publish_dir(final: Path, build: Callable[[Path], None]) -> bool:
    """Build a local directory under a temporary name and rename it to `final` in one step.

    Returns True when this call published it; False when it existed already or another process
    won the race (same name -> same content, so the loser's copy is dropped).
    """
    if final.is_dir():
        return False
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name[:16]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        build(tmp)
        try:
            os.replace(tmp, final)  # atomic; fails when another process renamed first
        except OSError:
            if not final.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
            return False
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True
