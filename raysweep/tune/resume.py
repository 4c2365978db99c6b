"""Resuming a sweep's Tune experiment after the driver died.

`--resume` restores Tune's saved experiment when it covers every trial still without rows, so
unfinished trials continue from their last epoch checkpoint. Tune snapshots its experiment state
every few seconds but deletes superseded checkpoints at once (num_to_keep=1), so a driver killed
between the two leaves a state that names a checkpoint already gone; Ray 2.60 then fails the trial
in `Trainable.restore` on every retry. Before fit() we repair such references: the newest complete
checkpoint the trial did leave takes the missing name (what Ray once did itself, ray#29099), or,
if it left none, an empty directory there makes the trial start from epoch 0. On object stores
(s3://, gs://) a directory cannot be renamed, so the checkpoint's files are copied and the old ones
deleted (`storage.move_dir`). State that cannot be
read at all (killed mid-write, or before Tune's first snapshot) is dropped: the trials without rows
start afresh in a new Tuner. Either way no trial is lost or run twice, because rows, not Tune state,
decide what is done.
"""
from __future__ import annotations

import json
import re
from typing import Callable, TextIO

import pyarrow.fs as pafs
from ray import tune

from raysweep import storage
from raysweep.config.resolve import TrialConfig
from raysweep.tune.trainable import STATE_FILE

EXPERIMENT = "tune"  # Tune's own state lives in <storage>/<sweep>/tune/
FINGERPRINT = "spec-fingerprint.json"
_CHECKPOINT = re.compile(r"checkpoint_(\d+)$")


def fingerprint(trials: list[TrialConfig]) -> str:
    """The trial ids a Tune experiment holds, saved beside it to decide whether to restore it."""
    return json.dumps(sorted(t.trial_id for t in trials))


def _exists(fs: pafs.FileSystem, path: str) -> bool:
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def _complete(fs: pafs.FileSystem, path: str) -> bool:
    """A checkpoint the trainable can continue from: it holds STATE_FILE (storage.move_dir copies it last)."""
    return _exists(fs, f"{path.rstrip('/')}/{STATE_FILE}")


def repair_missing_checkpoint(fs: pafs.FileSystem, path: str) -> str:
    """Make the checkpoint `path` complete again; returns what was done, for one log line.

    Only complete checkpoints (holding STATE_FILE) of the same trial are candidates: a directory
    half-copied when the driver (or an earlier repair) died is not one, and is replaced."""
    path = path.rstrip("/")
    if _complete(fs, path):
        return "is complete, left as it is"
    trial_dir = path.rsplit("/", 1)[0]
    found = fs.get_file_info(pafs.FileSelector(trial_dir, allow_not_found=True))
    done = sorted((int(m.group(1)), info.path) for info in found
                  if info.type == pafs.FileType.Directory and (m := _CHECKPOINT.search(info.base_name))
                  and info.path.rstrip("/") != path and _complete(fs, info.path))
    if _exists(fs, path):  # incomplete: its remains must not mix with the copied files
        fs.delete_dir(path)
    if done:
        # S3 cannot rename a folder: storage copies the files, STATE_FILE last (see _complete)
        storage.move_dir(storage.Location(fs, done[-1][1]), storage.Location(fs, path), last=STATE_FILE)
        return f"continues from {done[-1][1].rsplit('/', 1)[-1]}"
    fs.create_dir(path, recursive=True)  # no STATE_FILE inside: the trainable starts afresh
    return "left no complete checkpoint, starts from epoch 0"


def _repair(tuner: tune.Tuner, out: TextIO) -> None:
    try:
        results = tuner.get_results()  # read from the saved state; runs nothing
    except RuntimeError:  # Ray's wording ("call fit() first") would mislead here
        raise ValueError("it holds no trial states") from None
    for result in results:
        ckpt = result.checkpoint
        if ckpt is not None and not _complete(ckpt.filesystem, ckpt.path):
            what = repair_missing_checkpoint(ckpt.filesystem, ckpt.path)
            print(f"raysweep: trial {result.path.rstrip('/').rsplit('/', 1)[-1]}: its saved checkpoint "
                  f"was gone or incomplete; {what}", file=out)


def restore_or_new(path: str, trainable, pending: list[TrialConfig], resume: bool,
                   new_tuner: Callable[[], tune.Tuner], out: TextIO) -> tune.Tuner:
    """Tuner.restore when `resume` finds readable Tune state for the same pending set, with its
    stale checkpoint references repaired; otherwise `new_tuner()` over the trials without rows, in
    an emptied Tune directory (the rows, elsewhere, are what make a sweep resumable at all)."""
    root = storage.resolve(path)
    fp_path = root / FINGERPRINT
    exp = (root / EXPERIMENT).uri
    if resume and tune.Tuner.can_restore(exp):
        try:
            covered = set(json.loads((storage.read_bytes(fp_path) or b"[]").decode()))
        except (OSError, json.JSONDecodeError):
            covered = set()
        if covered >= {t.trial_id for t in pending}:
            try:
                tuner = tune.Tuner.restore(exp, trainable, resume_unfinished=True, resume_errored=True)
                _repair(tuner, out)
                print(f"raysweep: resuming Tune state in {exp}", file=out)
                return tuner
            except Exception as e:  # noqa: BLE001 - any unreadable state: the safe answer is to start over
                reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
                print(f"raysweep: cannot resume the Tune state in {exp} ({reason}); the {len(pending)} "
                      "trials without rows start afresh", file=out)
    storage.delete_dir(root / EXPERIMENT)
    storage.atomic_write_bytes(fp_path, fingerprint(pending).encode())
    return new_tuner()
