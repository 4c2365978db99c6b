"""Atomic Parquet writes of a trial's rows under <storage>/<sweep>/tables/{trials,examples}/.

Each trial owns the files named by its trial id, written through raysweep.storage (temporary
name, then rename), so a crash never leaves a half-written table and writing a trial twice
replaces its files instead of duplicating rows. The trial row is written last: its presence is
what marks the trial finished for resume. Local paths and pyarrow.fs URIs alike.
"""
from __future__ import annotations

from typing import Optional

import pyarrow as pa

from raysweep import storage
from raysweep.results.reader import read_kind
from raysweep.results.schema import KINDS, TABLES



class TableStore:
    """The result tables of one sweep."""

    def __init__(self, where: str | storage.Location, sweep: str):
        self.sweep = sweep
        self.root = storage.resolve(where) / sweep / TABLES

    def dir(self, kind: str) -> storage.Location:
        assert kind in KINDS, kind
        return self.root / kind

    def _path(self, kind: str, trial_id: str) -> storage.Location:
        return self.dir(kind) / f"{trial_id}.parquet"

    def done_ids(self) -> set[str]:
        """Trial ids that already have a trial row (ok or failed)."""
        return {i.base_name[: -len(".parquet")] for i in storage.list_dir(self.dir("trials"))
                if i.base_name.endswith(".parquet") and not i.base_name.startswith((".", "_"))}

    def has(self, trial_id: str) -> bool:
        """Whether the trial already has its trial row (one metadata call, no listing)."""
        return storage.exists(self._path("trials", trial_id))

    def write(self, trial_id: str, trial: pa.Table, examples: Optional[pa.Table] = None) -> None:
        """Write a finished trial: examples first, then the trial row that marks it done."""
        if examples is not None and examples.num_rows:
            storage.write_parquet(self._path("examples", trial_id), examples)
        storage.write_parquet(self._path("trials", trial_id), trial)

    def write_manifolds(self, key: str, table: pa.Table) -> None:
        """The sweep's manifold-quality rows of one data set (tables/manifolds/<key>.parquet)."""
        storage.write_parquet(self.dir("manifolds") / f"{key}.parquet", table)

    def read(self, kind: str) -> pa.Table:
        """All rows of one table, files of differing schemas unified (empty when none yet)."""
        return read_kind(self.root, kind)


SAMPLES = "samples"  # <storage>/<sweep>/samples/<trial_id>.pt: a few attacked images per attack (Fig. 2)


def samples_path(where: str | storage.Location, sweep: str, trial_id: str) -> storage.Location:
    """Where a trial's sample pictures go (torch dict of CPU tensors, raysweep.trial.TrialOutput)."""
    return storage.resolve(where) / sweep / SAMPLES / f"{trial_id}.pt"
