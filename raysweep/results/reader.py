"""Reading a sweep's tables back, local or on object storage, with schema unification.

One reader for `raysweep tables`, analysis/ and tests. Files of a sweep written under different
spec versions may differ in columns (or a column's type): each file is then read alone and the
tables are concatenated with missing columns as nulls and types promoted, instead of the first
file's schema silently dropping the others' columns. Temporary files (leading "." or "_") are
never read.
"""
from __future__ import annotations

import sys
from typing import Callable, Optional

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.compute as pc
import pyarrow.parquet as pq

from raysweep._core import storage
from raysweep._core.errors import UserError
from raysweep.results.schema import KINDS, SCHEMA_VERSION, STATUS, TABLES, TRIAL_ID

Wanted = Optional[Callable[[str], bool]]
TRIAL_KEYS = (TRIAL_ID, STATUS)  # every trial row names its trial and whether it finished ok


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
    schemas = [_schema(folder, f, kind) for f in files]
    pick = (lambda names: [c for c in names if wanted is None or wanted(c)])
    try:
        if all(s.equals(schemas[0]) for s in schemas[1:]):
            dataset = pads.dataset(files, filesystem=folder.fs, format="parquet", partitioning="hive",
                                   partition_base_dir=folder.path)  # Hive folders (key=value) become columns
            table = dataset.to_table(columns=pick(dataset.schema.names))
        else:
            parts = [pq.read_table(f, filesystem=folder.fs, columns=pick(s.names)) for f, s in zip(files, schemas)]
            table = pa.concat_tables(unify_clashing_types(parts, folder), promote_options="permissive")
    except (pa.ArrowException, OSError):  # a footer that reads but data pages that do not: find the file
        for f, s in zip(files, schemas):
            try:
                pq.read_table(f, filesystem=folder.fs, columns=pick(s.names))
            except (pa.ArrowException, OSError) as e:
                raise _unreadable(folder, f, e) from None
        raise
    return check_version(table, folder)


def unify_clashing_types(parts: list[pa.Table], folder: storage.Location) -> list[pa.Table]:
    """Files written before and after a column changed type (a strategy parameter given as 10, then
    as "10") cannot be promoted to one type: such a column is read as text in every file, with
    one warning naming it, instead of failing the whole read."""
    types: dict[str, set[pa.DataType]] = {}
    for t in parts:
        for f in t.schema:
            if not pa.types.is_null(f.type):
                types.setdefault(f.name, set()).add(f.type)
    clash = sorted(n for n, ts in types.items() if len(ts) > 1 and not _promotable(ts))
    for name in clash:
        print(f"raysweep: warning: {folder.uri}: column {name!r} has types {', '.join(sorted(map(str, types[name])))} "
              "in different files; reading it as text", file=sys.stderr)
    return [t.cast(pa.schema([f.with_type(pa.string()) if f.name in clash else f for f in t.schema])) for t in parts]


def _promotable(types: set[pa.DataType]) -> bool:
    """Whether Arrow's permissive promotion joins these types (numbers with numbers, and the like)."""
    try:
        pa.concat_tables([pa.table({"c": pa.array([], type=t)}) for t in types], promote_options="permissive")
        return True
    except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False


def check_version(table: pa.Table, folder: storage.Location) -> pa.Table:
    """Tables written by a newer raysweep may hold columns this code reads wrongly: stop."""
    if "schema_version" in table.column_names and table.num_rows:
        newest = pc.max(table["schema_version"]).as_py()
        if newest is not None and newest > SCHEMA_VERSION:
            raise UserError(f"{folder.uri}: tables of schema version {newest}, newer than this raysweep's "
                            f"{SCHEMA_VERSION}; upgrade raysweep to read them")
    return table


def _unreadable(folder: storage.Location, path: str, e: Exception) -> UserError:
    return UserError(f"{path}: not a readable Parquet file ({type(e).__name__}: {' '.join(str(e).split())[:160]}); "
                     f"move it out of {folder.uri} (`raysweep sweep SPEC --resume` reruns its trial)")


def _schema(folder: storage.Location, path: str, kind: str) -> pa.Schema:
    """A file's schema; an unreadable (0-byte, corrupt) file, or a trial row without the columns
    that say which trial it is and how it ended, is one UserError naming the file."""
    try:
        schema = pq.read_schema(path, filesystem=folder.fs)
    except (pa.ArrowException, OSError) as e:
        raise _unreadable(folder, path, e) from None
    missing = [c for c in TRIAL_KEYS if c not in schema.names] if kind == "trials" else []
    if missing:
        raise UserError(f"{path}: a trials file without the column(s) {', '.join(missing)}, so not a raysweep trial "
                        f"row; move it out of {folder.uri}")
    return schema
