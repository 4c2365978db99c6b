"""Atomic Parquet writes of a trial's rows under <storage>/<sweep>/tables/{trials,examples}/.

Each trial owns the files named by its trial id, written to a temporary name (leading '.', which
pyarrow.dataset and pandas ignore) and then renamed, so a crash never leaves a half-written table
and writing a trial twice replaces its files instead of duplicating rows. The trial row is
written last: its presence is what marks the trial finished for resume.
Works on local paths and on any URI pyarrow.fs understands (s3://, gs://).
"""
from __future__ import annotations

import os
import uuid
from typing import Optional

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raysweep.errors import UserError

KINDS = ("trials", "examples")


def filesystem(storage: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) for a local path or a URI."""
    if "://" not in storage:
        return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(storage))
    try:
        return pafs.FileSystem.from_uri(storage)
    except (pa.ArrowInvalid, OSError) as e:
        raise UserError(f"storage: cannot open {storage!r} ({e}); use a local path or s3://bucket/prefix") from None


class TableStore:
    """The result tables of one sweep."""

    def __init__(self, storage: str, sweep: str):
        self.fs, base = filesystem(storage)
        self.root = f"{base.rstrip('/')}/{sweep}/tables"
        self.sweep = sweep

    def dir(self, kind: str) -> str:
        assert kind in KINDS, kind
        return f"{self.root}/{kind}"

    def _path(self, kind: str, trial_id: str) -> str:
        return f"{self.dir(kind)}/{trial_id}.parquet"

    def done_ids(self) -> set[str]:
        """Trial ids that already have a trial row (ok or failed)."""
        d = self.dir("trials")
        if self.fs.get_file_info(d).type == pafs.FileType.NotFound:
            return set()
        infos = self.fs.get_file_info(pafs.FileSelector(d, recursive=False))
        return {i.base_name[: -len(".parquet")] for i in infos
                if i.base_name.endswith(".parquet") and not i.base_name.startswith((".", "_"))}

    def has(self, trial_id: str) -> bool:
        """Whether the trial already has its trial row (one metadata call, no listing)."""
        return self.fs.get_file_info(self._path("trials", trial_id)).type != pafs.FileType.NotFound

    def _write_atomic(self, table: pa.Table, path: str) -> None:
        parent = path.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}.parquet"
        with self.fs.open_output_stream(tmp) as f:
            pq.write_table(table, f)
        self.fs.move(tmp, path)  # atomic rename locally; copy + delete on object stores

    def write(self, trial_id: str, trial: pa.Table, examples: Optional[pa.Table] = None) -> None:
        """Write a finished trial: examples first, then the trial row that marks it done."""
        if examples is not None and examples.num_rows:
            self._write_atomic(examples, self._path("examples", trial_id))
        self._write_atomic(trial, self._path("trials", trial_id))

    def read(self, kind: str, schema: Optional[pa.Schema] = None) -> pa.Table:
        """All rows of one table (empty when nothing was written yet)."""
        d = self.dir(kind)
        if self.fs.get_file_info(d).type == pafs.FileType.NotFound:
            return (schema or pa.schema([])).empty_table()
        return pads.dataset(d, filesystem=self.fs, format="parquet", schema=schema).to_table()
