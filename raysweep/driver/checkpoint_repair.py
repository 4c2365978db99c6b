"""Repairing a trial's checkpoint folder that a killed driver's saved Tune state names but that is
gone or half-written (no Ray here: pyarrow filesystems; raysweep.tune.resume calls it).

Tune snapshots its experiment state every few seconds but deletes superseded checkpoints at once,
so the state can name `checkpoint_000004` after only `checkpoint_000002` survived. The newest
complete checkpoint of the same trial (one holding STATE_FILE, which the trainable writes last)
takes the missing name; with none, an empty folder there makes the trial start from epoch 0.
"""
from __future__ import annotations

import re

import pyarrow.fs as pafs

from raysweep._core import storage

STATE_FILE = "state.pt"  # what a trial checkpoint holds (raysweep.tune.trainable writes it)
_CHECKPOINT = re.compile(r"checkpoint_(\d+)$")


def _exists(fs: pafs.FileSystem, path: str) -> bool:
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def complete(fs: pafs.FileSystem, path: str) -> bool:
    """A checkpoint the trainable can continue from: it holds STATE_FILE (storage.move_dir copies it last)."""
    return _exists(fs, f"{path.rstrip('/')}/{STATE_FILE}")


def repair_missing_checkpoint(fs: pafs.FileSystem, path: str) -> str:
    """Make the checkpoint `path` complete again; returns what was done, for one log line.

    Only complete checkpoints (holding STATE_FILE) of the same trial are candidates: a directory
    half-copied when the driver (or an earlier repair) died is not one, and is replaced."""
    path = path.rstrip("/")
    if complete(fs, path):
        return "is complete, left as it is"
    trial_dir = path.rsplit("/", 1)[0]
    found = fs.get_file_info(pafs.FileSelector(trial_dir, allow_not_found=True))
    done = sorted((int(m.group(1)), info.path) for info in found
                  if info.type == pafs.FileType.Directory and (m := _CHECKPOINT.search(info.base_name))
                  and info.path.rstrip("/") != path and complete(fs, info.path))
    if _exists(fs, path):  # incomplete: its remains must not mix with the copied files
        fs.delete_dir(path)
    if done:
        # S3 cannot rename a folder: storage copies the files, STATE_FILE last (see _complete)
        storage.move_dir(storage.Location(fs, done[-1][1]), storage.Location(fs, path), last=STATE_FILE)
        return f"continues from {done[-1][1].rsplit('/', 1)[-1]}"
    fs.create_dir(path, recursive=True)  # no STATE_FILE inside: the trainable starts afresh
    return "left no complete checkpoint, starts from epoch 0"
