"""Reading a sweep's tables back, local or on object storage, with schema unification.

One reader for `raysweep tables`, analysis/ and tests. Files of a sweep written under different
spec versions may differ in columns (or a column's type): each file is then read alone and the
tables are concatenated with missing columns as nulls and types promoted, instead of the first
file's schema silently dropping the others' columns. Temporary files (leading "." or "_") are
never read.
"""
from __future__ import annotations

from typing import Callable, Optional

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raysweep import storage
from raysweep.errors import UserError
from raysweep.results.schema import KINDS, TABLES

Wanted = Optional[Callable[[str], bool]]


def tables_dir(where: str | storage.Location) -> storage.Location:
    """The `tables` folder of a results directory given as `<storage>/<sweep>` or `tables` itself."""
    loc = storage.resolve(where)
    if not storage.is_dir(loc):
        raise UserError(f"results directory {loc.uri!r} does not exist; pass <storage>/<sweep> of a finished sweep")
    for candidate in (loc / TABLES, loc):
        if storage.is_dir(candidate / "trials"):
            return candidate
    raise UserError(f"{loc.uri!r} holds no tables/trials folder; pass <storage>/<sweep> (or its tables folder) "
                    "of a sweep that ran")


def parquet_files(folder: storage.Location) -> list[str]:
    """Finished Parquet files under a table folder (flat or Hive-partitioned), sorted."""
    if not storage.is_dir(folder):
        return []
    infos = folder.fs.get_file_info(pafs.FileSelector(folder.path, recursive=True))
    return sorted(i.path for i in infos if i.type == pafs.FileType.File and i.base_name.endswith(".parquet")
                  and not i.base_name.startswith((".", "_")))


def read_kind(tables: storage.Location, kind: str, wanted: Wanted = None) -> pa.Table:
    """One table (`trials` or `examples`) of a sweep; empty when nothing was written yet."""
    assert kind in KINDS, kind
    folder = tables / kind
    files = parquet_files(folder)
    if not files:
        return pa.table({})
    schemas = [pq.read_schema(f, filesystem=folder.fs) for f in files]
    pick = (lambda names: [c for c in names if wanted is None or wanted(c)])
    if all(s.equals(schemas[0]) for s in schemas[1:]):
        dataset = pads.dataset(files, filesystem=folder.fs, format="parquet", partitioning="hive",
                               partition_base_dir=folder.path)  # Hive folders (key=value) become columns
        return dataset.to_table(columns=pick(dataset.schema.names))
    parts = [pq.read_table(f, filesystem=folder.fs, columns=pick(s.names)) for f, s in zip(files, schemas)]
    return pa.concat_tables(parts, promote_options="permissive")
