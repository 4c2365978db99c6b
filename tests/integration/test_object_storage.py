"""raysweep on object storage, against a real S3-compatible server: moto's server mode, started
here as a subprocess on 127.0.0.1 (no mock of pyarrow or boto: every call goes over HTTP to it).
Storage round trips, checkpoint repair (object stores cannot rename directories), the lambda
table, the sweep lease, and a sweep's whole lifecycle: rows, epoch checkpoints, SIGKILL of the
driver, --resume from the repaired checkpoints, rows exactly once.

Credentials and the endpoint reach every process the way a user's would: AWS_* variables in the
environment (inherited by the driver subprocess and by Ray's workers) and pyarrow's URI options
(`?endpoint_override=...&scheme=http&region=...`), which raysweep._core.storage keeps on every join.
"""
from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pyarrow.fs as pafs
import pytest
import yaml

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent

import sweep_fixtures  # noqa: E402

from raysweep._core import storage  # noqa: E402

BUCKET = "raysweep-test"
ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
       # never ask an EC2 metadata endpoint for credentials or a region: nothing leaves 127.0.0.1
       "AWS_EC2_METADATA_DISABLED": "true", "RAY_AUTH_MODE": "disabled",
       # Ray workers import the sweep_fixtures plugin by name
       "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """A moto server process; `uri(prefix)` is an s3:// URI pyarrow (and so Tune) opens on it."""

    def __init__(self, log: Path) -> None:
        self.port = _free_port()
        # Its request log goes to a file: a pipe nobody reads fills up and then blocks the server.
        with open(log, "wb") as f:
            self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                         stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/moto-api/", timeout=1).close()
                break
            except OSError:
                assert self.proc.poll() is None, log.read_text()[-2000:]
                assert time.time() < deadline, "moto server did not come up in 30 s"
                time.sleep(0.2)
        self.fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{self.port}", scheme="http", region="us-east-1",
                                    allow_bucket_creation=True)
        self.fs.create_dir(BUCKET)

    def uri(self, prefix: str) -> str:
        return f"s3://{BUCKET}/{prefix}?endpoint_override=127.0.0.1:{self.port}&scheme=http&region=us-east-1"

    def keys(self, prefix: str) -> list[str]:
        infos = self.fs.get_file_info(pafs.FileSelector(f"{BUCKET}/{prefix}", recursive=True, allow_not_found=True))
        return sorted(i.path[len(BUCKET) + len(prefix) + 2:] for i in infos if i.type == pafs.FileType.File)

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=20)


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        for k, v in ENV.items():
            mp.setenv(k, v)
        server = S3Server(tmp_path_factory.mktemp("moto") / "server.log")
        try:
            yield server
        finally:
            server.stop()


def test_storage_round_trips_on_s3(s3):
    import pyarrow as pa
    import torch

    base = s3.uri("storage")
    loc = storage.resolve(storage.join(base, "a", "b.bin"))  # join keeps the endpoint options
    assert loc.uri == base.replace("/storage?", "/storage/a/b.bin?") and not loc.is_local
    storage.atomic_write_bytes(loc, b"one")
    storage.atomic_write_bytes(loc, b"two")  # replaces, never appends
    assert storage.read_bytes(loc) == b"two" and storage.read_bytes(loc.parent / "absent") is None
    table = pa.table({"x": [1, 2, 3]})
    storage.write_parquet(storage.join(base, "t", "rows.parquet"), table)
    assert storage.read_parquet(storage.join(base, "t", "rows.parquet")).equals(table)
    storage.save_torch(storage.join(base, "w.pt"), {"w": torch.arange(4.0)})
    assert torch.equal(storage.load_torch(storage.join(base, "w.pt"))["w"], torch.arange(4.0))
    assert s3.keys("storage") == ["a/b.bin", "t/rows.parquet", "w.pt"]  # no temporary file left
    assert [i.base_name for i in storage.list_dir(storage.join(base, "t"))] == ["rows.parquet"]
    storage.delete_dir(storage.join(base, "a"))
    assert not storage.exists(loc) and s3.keys("storage") == ["t/rows.parquet", "w.pt"]


@pytest.fixture(params=["s3", "local"])
def trial_dir(request, tmp_path):
    """(fs, path) of a trial folder on the S3 server or on the local disk: repair must work on both."""
    if request.param == "local":
        return pafs.LocalFileSystem(), str(tmp_path / "trial")
    server = request.getfixturevalue("s3")
    return server.fs, f"{BUCKET}/repair-{time.time_ns()}/trial"


def _write(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as f:
        f.write(data)


def _read(fs: pafs.FileSystem, path: str) -> bytes:
    with fs.open_input_stream(path) as f:
        return f.read()


def test_checkpoint_repair_moves_the_newest_complete_checkpoint(trial_dir):
    """The state names checkpoint_000004, which is gone; checkpoint_000002 is complete, 000003 was
    cut short (no state file). 000002 takes the missing name, files and bytes intact."""
    from raysweep.driver.checkpoint_repair import repair_missing_checkpoint
    from raysweep.driver.checkpoint_repair import STATE_FILE

    fs, trial = trial_dir
    _write(fs, f"{trial}/checkpoint_000002/{STATE_FILE}", b"epoch-3")
    _write(fs, f"{trial}/checkpoint_000002/extra/notes.txt", b"nested")
    _write(fs, f"{trial}/checkpoint_000003/notes.txt", b"half")
    _write(fs, f"{trial}/checkpoint_000004/notes.txt", b"remains of a repair killed mid-copy")
    assert repair_missing_checkpoint(fs, f"{trial}/checkpoint_000004") == "continues from checkpoint_000002"
    assert _read(fs, f"{trial}/checkpoint_000004/{STATE_FILE}") == b"epoch-3"
    assert _read(fs, f"{trial}/checkpoint_000004/extra/notes.txt") == b"nested"
    gone = fs.get_file_info([f"{trial}/checkpoint_000004/notes.txt", f"{trial}/checkpoint_000002/{STATE_FILE}"])
    assert all(i.type == pafs.FileType.NotFound for i in gone)  # no remains mixed in; the source is gone
    assert _read(fs, f"{trial}/checkpoint_000003/notes.txt") == b"half"  # incomplete: left alone
    # a complete checkpoint is never replaced
    assert repair_missing_checkpoint(fs, f"{trial}/checkpoint_000004") == "is complete, left as it is"


def test_checkpoint_repair_without_candidates_starts_afresh(trial_dir):
    """No complete checkpoint left: an empty one, which Tune downloads as an empty folder (the
    trainable's "start from epoch 0")."""
    from ray.tune import Checkpoint

    from raysweep.driver.checkpoint_repair import repair_missing_checkpoint

    fs, trial = trial_dir
    _write(fs, f"{trial}/checkpoint_000001/notes.txt", b"half")
    what = repair_missing_checkpoint(fs, f"{trial}/checkpoint_000005")
    assert what == "left no complete checkpoint, starts from epoch 0"
    assert os.listdir(Checkpoint(f"{trial}/checkpoint_000005", filesystem=fs).to_directory()) == []


def test_lambda_table_on_s3(s3):
    """The lambda study's table goes to <storage>/<name>/lambda.parquet on S3 and is what the
    manifold actors read back (manifolds.options.lambda_table)."""
    from raysweep.config.lambda_spec import parse_lambda_spec
    from raysweep.manifold.lambda_score import read_lambda_table, write_table

    spec = parse_lambda_spec({"name": "fonts-lam", "dataset": {"name": "fonts"}, "storage": s3.uri("lam"),
                              "study_db": "sqlite:////tmp/unused.sqlite"})
    table = pd.DataFrame({"dataset": "fonts", "kind": "class", "class": [0, 1], "lambda": [2.5, 3.0]})
    write_table(table, spec.table_path())
    assert s3.keys("lam") == ["fonts-lam/lambda.parquet"]
    assert read_lambda_table(spec.table_path()) == {0: 2.5, 1: 3.0}


# -- the whole lifecycle on a local Ray ------------------------------------------------------------

@pytest.fixture(scope="module")
def ray_s3(s3, request):
    """The module's local Ray (conftest's ray_session), started after the AWS variables are set
    so its workers inherit them."""
    return request.getfixturevalue("ray_session")


def _progress(s3: S3Server, prefix: str) -> tuple[set[str], dict[str, list[str]]]:
    """(trial ids with a trial row, {trial id: its checkpoint folders}) of a sweep on S3."""
    rows, ckpts = set(), {}
    for key in s3.keys(prefix):
        parts = key.split("/")
        if parts[:2] == ["tables", "trials"] and not parts[2].startswith("."):
            rows.add(parts[2][: -len(".parquet")])
        elif parts[0] == "tune" and len(parts) >= 4 and parts[2].startswith("checkpoint_"):
            ckpts.setdefault(parts[1], set()).add(parts[2])
    return rows, {t: sorted(c) for t, c in ckpts.items()}


def _make_stale(s3: S3Server, trial: str, folders: list[str]) -> None:
    """What a driver killed between Tune's checkpoint deletion and its next state snapshot leaves
    (tests/integration/test_sweep_ray.py's stale case): whichever checkpoint the state names is gone, and
    the trial's newest one sits under a higher index."""
    newest = folders[-1]
    src, dst = f"{trial}/{newest}", f"{trial}/checkpoint_{int(newest.split('_')[1]) + 5:06d}"
    for info in s3.fs.get_file_info(pafs.FileSelector(src, recursive=True)):
        if info.type == pafs.FileType.File:
            s3.fs.copy_file(info.path, dst + info.path[len(src):])
    for folder in folders:  # an older one may linger for a moment after a save (num_to_keep=1)
        s3.fs.delete_dir(f"{trial}/{folder}")


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_sweep_lifecycle_on_s3(s3, ray_s3, tmp_path, monkeypatch):
    """A sweep on S3: the driver (a subprocess) holds the lease while it runs and is SIGKILLed
    mid-trial; its stale checkpoint references are repaired on S3, the resumed trial continues
    from its epoch checkpoint, and every trial ends with exactly one row."""
    from raysweep.results import lease
    from raysweep._core.errors import UserError
    from raysweep.results.store import TableStore
    from raysweep.tune.sweep_runner import run_sweep

    base = s3.uri("life")
    spec = sweep_fixtures.tiny_spec(base, grid={"n": [50, 100], "seed": [1, 2], "arch": ["cnn"]},
                                    strategies=[{"name": "normal", "resources": {"cpu": 1, "gpu": 0.1}}],
                                    train={"epochs": 6, "batch_size": 10}, concurrency=1)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    driver = subprocess.Popen([sys.executable, "-m", "raysweep.cli", "sweep", str(path), "--address", ray_s3],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        # Kill once a trial has a row and an unfinished one has reached its third epoch checkpoint
        # (by then Tune's state names one of its checkpoints: every save forces a snapshot).
        deadline = time.time() + 150
        while True:
            rows, ckpts = _progress(s3, "life/tiny")
            if rows and any("checkpoint_000002" in c for t, c in ckpts.items() if t not in rows):
                break
            assert driver.poll() is None, driver.stderr.read().decode()[-3000:]
            assert time.time() < deadline, f"no progress on S3: rows {rows}, checkpoints {ckpts}"
            time.sleep(0.1)
        with pytest.raises(UserError, match=f"already being run by another driver.*pid {driver.pid}"):
            lease.acquire(base, "tiny")  # the lease on S3 is the running driver's
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    time.sleep(2)  # Ray stops the dead driver's trial workers; none may write after the look below
    rows, ckpts = _progress(s3, "life/tiny")
    unfinished = {t: c for t, c in ckpts.items() if t not in rows}
    assert 1 <= len(rows) < 4 and unfinished, (rows, ckpts)
    for trial, folders in unfinished.items():
        _make_stale(s3, f"{BUCKET}/life/tiny/tune/{trial}", folders)

    # The killed driver's lease looks alive until its heartbeat is STALE_S old; then it is taken over.
    with pytest.raises(UserError, match=f"pid {driver.pid}"):
        run_sweep(str(path), resume=True)
    monkeypatch.setattr(lease, "STALE_S", 0.0)
    out = io.StringIO()
    summary = run_sweep(str(path), resume=True, out=out)
    log = out.getvalue()
    assert "resuming Tune state" in log, log
    for trial in unfinished:
        assert f"trial {trial}: its saved checkpoint was gone or incomplete; continues from checkpoint_" in log, log
    assert (summary.skipped, summary.ok, summary.failed) == (len(rows), 4 - len(rows), 0)

    store = TableStore(base, "tiny")
    t = store.read("trials").to_pandas().set_index("trial_id")
    assert len(t) == 4 and t.index.is_unique and (t["status"] == "ok").all()
    # continued from the repaired checkpoint (epoch 3 or later), not from epoch 0
    assert (t.loc[sorted(unfinished), "resumed_from_epoch"] >= 2).all(), t["resumed_from_epoch"]
    ex = store.read("examples").to_pandas()
    assert ex.groupby("trial_id").size().eq(10 * 2).all() and ex["trial_id"].nunique() == 4
    keys = s3.keys("life/tiny")
    assert not [k for k in keys if "/.tmp-" in k] and lease.LEASE not in keys  # released, no temporaries
    print(f"S3 lifecycle: {len(rows)} rows survived the kill, {len(unfinished)} trial(s) resumed from "
          f"their checkpoint, {len(t)} trial rows and {len(ex)} example rows at the end")
