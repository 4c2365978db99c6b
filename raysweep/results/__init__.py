"""Result tables: Arrow schemas (schema.py) and atomic Parquet writes (store.py)."""
from raysweep.results.schema import EXAMPLE_SCHEMA, SCHEMA_VERSION, trial_schema
from raysweep.results.store import TableStore

__all__ = ["EXAMPLE_SCHEMA", "SCHEMA_VERSION", "TableStore", "trial_schema"]
