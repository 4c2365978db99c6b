"""Atomic Parquet writes of a trial's rows under <storage>/<sweep>/tables/{trials,examples}/.

Each trial owns the files named by its trial id, written through raysweep._core.storage (temporary
name, then rename), so a crash never leaves a half-written table and writing a trial twice
replaces its files instead of duplicating rows. The trial row is written last: its presence is
what marks the trial finished for resume. Local paths and pyarrow.fs URIs alike.
"""
from __future__ import annotations

import time
from typing import Optional

import pyarrow as pa
import pyarrow.parquet as pq

from raysweep._core import storage
from raysweep.results.reader import read_kind
from raysweep.results.schema import KINDS, STATUS, STATUS_FAILED, TABLES

SET_ASIDE = "set-aside"  # rows moved out of the way (unreadable, or failed under --retry-failed)


class TableStore:
    """The result tables of one sweep."""

    def __init__(self, where: str | storage.Location, sweep: str):
        self.sweep = sweep
        self.where = storage.resolve(where)
        self.root = self.where / sweep / TABLES

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

    def write(self, trial_id: str, trial: pa.Table, examples: Optional[pa.Table] = None,
              epochs: Optional[pa.Table] = None) -> None:
        """Write a finished trial: examples and epochs first, then the trial row that marks it done."""
        if examples is not None and examples.num_rows:
            storage.write_parquet(self._path("examples", trial_id), examples)
        if epochs is not None and epochs.num_rows:
            storage.write_parquet(self._path("epochs", trial_id), epochs)
        storage.write_parquet(self._path("trials", trial_id), trial)

    def samples_path(self, trial_id: str) -> storage.Location:
        """Where the trial's sample pictures go (samples_path)."""
        return samples_path(self.where, self.sweep, trial_id)

    def write_manifolds(self, key: str, table: pa.Table) -> None:
        """The sweep's manifold-quality rows of one data set (tables/manifolds/<key>.parquet)."""
        storage.write_parquet(self.dir("manifolds") / f"{key}.parquet", table)

    # -- upkeep at a driver's start (it holds the sweep's lease, raysweep.results.lease) ------------------

    def clean_temporaries(self) -> int:
        """Delete temporary files a killed writer left (names starting with ".tmp-")."""
        n = 0
        for kind in KINDS:
            for info in storage.list_dir(self.dir(kind)):
                if info.base_name.startswith(".tmp-"):
                    self.root.fs.delete_file(info.path)
                    n += 1
        return n

    def set_aside(self, trial_id: str, why: str) -> storage.Location:
        """Move a trial's files to tables/set-aside/ (kept for inspection), so the trial reruns."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.root / SET_ASIDE
        storage.make_dir(target)
        for kind in KINDS:
            src = self._path(kind, trial_id)
            if storage.exists(src):
                self.root.fs.move(src.path, (target / f"{kind}-{trial_id}-{why}-{stamp}.parquet").path)
        return target

    def unreadable_ids(self) -> list[str]:
        """Trial rows that are not a readable Parquet file (0 bytes, cut short): not "done"."""
        bad = []
        for trial_id in sorted(self.done_ids()):
            try:
                if pq.read_metadata(self._path("trials", trial_id).path, filesystem=self.root.fs).num_rows < 1:
                    bad.append(trial_id)
            except (pa.ArrowInvalid, OSError):
                bad.append(trial_id)
        return bad

    def failed_ids(self) -> set[str]:
        """Trials whose row says status=failed (rows that cannot be read are unreadable_ids')."""
        out = set()
        for trial_id in self.done_ids():
            try:
                table = pq.read_table(self._path("trials", trial_id).path, filesystem=self.root.fs, columns=[STATUS])
            except (pa.ArrowInvalid, OSError, KeyError):
                continue
            if STATUS_FAILED in table[STATUS].to_pylist():
                out.add(trial_id)
        return out

    def upkeep(self, retry_failed: bool = False) -> list[str]:
        """At a driver's start, under the lease: temporary files of killed writers go; unreadable
        rows and (retry_failed) failed rows are set aside, so their trials run again. Returns one
        warning line per unreadable row."""
        self.clean_temporaries()
        warnings = []
        for trial_id in self.unreadable_ids():
            where = self.set_aside(trial_id, "unreadable")
            warnings.append(f"the row of trial {trial_id} is unreadable (a write cut short); moved to "
                            f"{where.uri}, the trial runs again")
        for trial_id in sorted(self.failed_ids()) if retry_failed else []:
            self.set_aside(trial_id, "failed")
        return warnings

    def read(self, kind: str) -> pa.Table:
        """All rows of one table, files of differing schemas unified (empty when none yet)."""
        return read_kind(self.root, kind)


SAMPLES = "samples"  # <storage>/<sweep>/samples/<trial_id>.pt: a few attacked images per attack (Fig. 2)


def samples_path(where: str | storage.Location, sweep: str, trial_id: str) -> storage.Location:
    """Where a trial's sample pictures go (torch dict of CPU tensors, raysweep.trial.protocol.TrialOutput)."""
    return storage.resolve(where) / sweep / SAMPLES / f"{trial_id}.pt"
