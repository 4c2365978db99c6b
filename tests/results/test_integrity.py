"""Results you can trust, without Ray: trial identity, the sweep lease, durable rows,
declared column types and tables newer than the code."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


import sweep_fixtures
from raysweep.results import lease
from raysweep.config import parse_spec
from raysweep._core.errors import UserError
from raysweep.results.reader import check_version
from raysweep.results.schema import SCHEMA_VERSION, trial_schema
from raysweep.results.store import TableStore
from raysweep.resolve.validate import strategy_param_types, validate_and_resolve


def ids(raw: dict, with_data: bool = True) -> list[str]:
    return [t.trial_id for t in validate_and_resolve(parse_spec(raw), "spec", with_data)[1]]


def spec(tmp_path, **overrides) -> dict:
    raw = sweep_fixtures.tiny_spec(str(tmp_path))
    raw["grid"] = {"n": [50], "seed": [1], "arch": ["cnn"]}
    raw.update(overrides)
    return raw


# -- trial identity ----------------------------------------------------------------------------

def test_same_config_written_differently_is_the_same_trial(tmp_path):
    base = spec(tmp_path, strategies=[{"name": "adversarial"}])
    spelled_out = spec(tmp_path, strategies=[{"name": "adversarial", "params": {"iterations": 40, "eps": 0.3}}])
    as_float = spec(tmp_path, strategies=[{"name": "adversarial", "params": {"iterations": 40.0}}])
    relabelled = spec(tmp_path, strategies=[{"name": "adversarial", "label": "adv"}], name="renamed")
    assert ids(base) == ids(spelled_out) == ids(as_float) == ids(relabelled)


@pytest.mark.parametrize("change", [
    {"strategies": [{"name": "adversarial", "params": {"iterations": 39}}]},
    {"train": {"epochs": 3, "batch_size": 50}},
    {"trial": "raysweep.trial.evaluate:evaluate_trial"},  # another trial function
    {"dataset": {"name": "tiny", "options": {"train_size": 401}}},  # other data
])
def test_anything_that_changes_results_changes_the_id(tmp_path, change):
    base = spec(tmp_path, strategies=[{"name": "adversarial"}])
    assert ids(base) != ids({**base, **change})


def test_vaegan_settings_identify_only_the_trials_that_use_them(tmp_path):
    strategies = [{"name": "normal"}, {"name": "onmanifold_class"}]
    raw = spec(tmp_path, dataset={"name": "fonts", "options": {"max_fonts": 3, "train_size": 200, "test_size": 60,
                                                              "cache_dir": str(tmp_path / "c")}},
               strategies=strategies, evaluate={})
    wider = {**raw, "manifolds": {"options": {"vaegan": {"width": 0.5}}}}
    a, b = ids(raw), ids(wider)
    assert a[0] == b[0] and a[1] != b[1]  # normal keeps its id, onmanifold_class does not


def test_data_location_is_not_identity_but_content_is(tmp_path):
    """The same bundled fonts cached in two folders: same trials. One option that changes the
    images (the data's content hash changes): other trials."""
    def fonts(cache: str, **extra) -> dict:
        return spec(tmp_path, dataset={"name": "fonts", "options": {"max_fonts": 3, "train_size": 200,
                                                                     "test_size": 60, "cache_dir": cache, **extra}},
                    evaluate={}, strategies=[{"name": "normal"}])
    assert ids(fonts(str(tmp_path / "a"))) == ids(fonts(str(tmp_path / "b")))
    assert ids(fonts(str(tmp_path / "a"))) != ids(fonts(str(tmp_path / "a"), seed=7))


def test_rows_carry_what_the_id_is_made_of(tmp_path):
    from raysweep.results.rows import config_columns

    (cfg,) = validate_and_resolve(parse_spec(spec(tmp_path)), "spec")[1]
    cols = config_columns(cfg)
    assert cols["data_hash"] == "tiny-v1" and cols["results_version"] >= 1 and cols["strategy"] == "normal"


def test_two_configurations_of_one_strategy_need_labels(tmp_path):
    twice = [{"name": "adversarial", "params": {"iterations": 5}}, {"name": "adversarial", "params": {"iterations": 9}}]
    with pytest.raises(UserError, match="give each configuration its own `label`"):
        parse_spec(spec(tmp_path, strategies=twice))
    labelled = [dict(twice[0], label="adv5"), dict(twice[1], label="adv9")]
    _, trials = validate_and_resolve(parse_spec(spec(tmp_path, strategies=labelled)), "spec")
    assert [t.strategy.key for t in trials] == ["adv5", "adv9"] and trials[0].trial_id != trials[1].trial_id


# -- one driver per sweep ------------------------------------------------------------------------

def test_a_second_driver_is_refused_naming_the_holder(tmp_path):
    with lease.acquire(str(tmp_path), "s"):
        with pytest.raises(UserError, match=rf"already being run by another driver \(host .*, pid {os.getpid()}"):
            lease.acquire(str(tmp_path), "s")
    with lease.acquire(str(tmp_path), "s"):  # released: free again
        pass


def test_a_killed_holder_releases_the_lease(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from raysweep.results import lease; lease.acquire(sys.argv[1], 's'); print('held', flush=True); "
        "time.sleep(600)"), str(tmp_path)], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"held"
    with pytest.raises(UserError, match=f"pid {holder.pid}"):
        lease.acquire(str(tmp_path), "s")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with lease.acquire(str(tmp_path), "s") as held:  # stale: taken over at once
        assert held.info["pid"] == os.getpid()


def test_a_remote_lease_is_refused_while_fresh_and_taken_over_when_stale(tmp_path, monkeypatch):
    """The object-store protocol (no locks: a heartbeat), run over the local filesystem."""
    import json

    monkeypatch.setattr(lease, "SETTLE_S", 0.0)
    where = TableStore(str(tmp_path), "s").root.parent / lease.LEASE
    lease.storage.make_dir(where.parent)
    lease.storage.atomic_write_bytes(where, json.dumps({"host": "h", "pid": 1, "since": time.time(),
                                                        "heartbeat": time.time(), "token": "other"}).encode())
    with pytest.raises(UserError, match="host h, pid 1"):
        lease._acquire_remote(where, "s")
    taken = lease._acquire_remote(where, "s", now=time.time() + lease.STALE_S + 1)
    assert json.loads(lease.storage.read_bytes(where))["token"] == taken.info["token"]
    taken.release()
    assert lease.storage.read_bytes(where) is None


# -- durable rows --------------------------------------------------------------------------------

def test_unreadable_rows_are_not_done_and_temporaries_go(tmp_path):
    store = TableStore(str(tmp_path), "s")
    good = pa.table({"trial_id": ["a"], "status": ["ok"]})
    store.write("a", good)
    store.write("b", pa.table({"trial_id": ["b"], "status": ["failed"]}))
    (Path(store.dir("trials").path) / "c.parquet").write_bytes(b"")  # a 0-byte row
    (Path(store.dir("trials").path) / ".tmp-x-d.parquet").write_bytes(b"half")
    assert store.unreadable_ids() == ["c"] and store.failed_ids() == {"b"}
    assert store.clean_temporaries() == 1
    store.set_aside("c", "unreadable")
    store.set_aside("b", "failed")
    assert store.done_ids() == {"a"}
    assert len(list(Path(store.root.path, "set-aside").iterdir())) == 2  # kept for inspection


def test_rows_are_fsynced_before_the_rename(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    TableStore(str(tmp_path), "s").write("a", pa.table({"x": [1]}))
    assert synced


# -- tables that evolve --------------------------------------------------------------------------

def test_strategy_parameter_columns_have_declared_types(tmp_path):
    raw = spec(tmp_path, strategies=[{"name": "adversarial", "params": {"iterations": 5}},
                                     {"name": "onmanifold_true", "params": {"eta": 0.2}}])
    resolved, _ = validate_and_resolve(parse_spec(raw), "spec", with_data=False)
    schema = trial_schema(resolved, strategy_param_types(resolved))
    assert schema.field("strategy.iterations").type == pa.int64()  # an int, not whatever values came
    assert schema.field("strategy.eta").type == pa.float64()  # Optional[float]: float in every file
    assert schema.field("strategy.variant").type == pa.string()


def test_tables_newer_than_the_code_are_refused(tmp_path):
    table = pa.table({"schema_version": [SCHEMA_VERSION + 1]})
    with pytest.raises(UserError, match="upgrade raysweep"):
        check_version(table, TableStore(str(tmp_path), "s").root)
    assert check_version(pa.table({"schema_version": [SCHEMA_VERSION]}), TableStore(str(tmp_path), "s").root)


def test_a_full_disk_during_a_row_write_leaves_no_partial_file(tmp_path):
    """A 64 KiB tmpfs fills during the write: the error surfaces, the earlier row is intact, and
    neither a partial row nor a temporary file is left."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        store = TableStore(str(disk), "s")
        store.write("a", pa.table({"x": [1]}))
        big = pa.table({"x": [os.urandom(64).hex() for _ in range(4000)]})  # ~512 KiB, incompressible
        with pytest.raises(OSError):
            store.write("b", big)
        assert store.done_ids() == {"a"} and pq.read_table(store.dir("trials").path + "/a.parquet").num_rows == 1
        assert [p.name for p in Path(store.dir("trials").path).iterdir()] == ["a.parquet"]
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_analysis_names_the_columns_when_a_folder_mixes_spec_versions():
    import pandas as pd

    from raysweep.analysis.load import spec_versions

    one = pd.DataFrame({"strategy": ["normal"] * 2, "arch": ["cnn"] * 2, "n": [50, 100], "seed": [1, 1],
                        "train.epochs": [20, 20], "data_hash": ["d", "d"]})
    assert spec_versions(one) == []
    mixed = pd.concat([one, one.assign(**{"train.epochs": 5, "data_hash": "e"})])
    assert spec_versions(mixed) == ["train.epochs", "data_hash"]


class _RunsCode:
    def __reduce__(self):
        return (os.getpid, ())  # harmless, but arbitrary code all the same


def test_checkpoints_load_weights_only(tmp_path):
    """Anyone who can write the results prefix must not run code on the workers that resume."""
    import pickle

    import torch

    from raysweep._core import storage

    torch.save({"model": {"w": torch.ones(2)}, "hook": _RunsCode()}, tmp_path / "state.pt")
    with pytest.raises(pickle.UnpicklingError):
        storage.load_torch(str(tmp_path / "state.pt"))
    torch.save({"model": {"w": torch.ones(2)}, "epoch": 3}, tmp_path / "ok.pt")
    assert storage.load_torch(str(tmp_path / "ok.pt"))["epoch"] == 3
    root = Path(__file__).resolve().parents[2]
    unpickling = {p.relative_to(root).as_posix() for p in root.glob("raysweep/**/*.py") if "weights_only=False" in p.read_text()}
    # the one exception: a user's whole pickled model, loaded only when they pass --trust-pickle
    assert unpickling == {"raysweep/models/loading.py"}
    guarded = (root / "raysweep/models/loading.py").read_text().split("def load_pickled", 1)[1].split("\ndef ", 1)[0]
    assert guarded.index("if not trusted") < guarded.index("weights_only=False")


def test_a_pickled_model_is_refused_until_trusted(tmp_path):
    """The control for that exception: without trust nothing from the file runs."""
    import torch

    from raysweep._core.errors import UserError
    from raysweep.models.loading import load_pickled

    torch.save(torch.nn.Linear(2, 2), tmp_path / "whole.pt")
    with pytest.raises(UserError, match="--trust-pickle"):
        load_pickled(str(tmp_path / "whole.pt"), "m", trusted=False)
    assert isinstance(load_pickled(str(tmp_path / "whole.pt"), "m", trusted=True), torch.nn.Linear)
