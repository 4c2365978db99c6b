"""Resuming a sweep's Tune experiment after the driver died.

`--resume` restores Tune's saved experiment when it covers every trial still without rows, so
unfinished trials continue from their last epoch checkpoint; checkpoint references the saved
state names but a kill left gone or half-written are repaired first (raysweep.driver.checkpoint_repair).
State that cannot be read at all (killed mid-write, or before Tune's first snapshot) is dropped:
the trials without rows start afresh in a new Tuner. Either way no trial is lost or run twice,
because rows, not Tune state, decide what is done.
"""
from __future__ import annotations

import json
from typing import Callable, TextIO

from ray import tune

from raysweep._core import storage
from raysweep.driver.checkpoint_repair import complete, repair_missing_checkpoint
from raysweep.config.trial_config import TrialConfig

EXPERIMENT = "tune"  # Tune's own state lives in <storage>/<sweep>/tune/
FINGERPRINT = "spec-fingerprint.json"


def fingerprint(trials: list[TrialConfig]) -> str:
    """The trial ids a Tune experiment holds, saved beside it to decide whether to restore it."""
    return json.dumps(sorted(t.trial_id for t in trials))


def _repair(tuner: tune.Tuner, out: TextIO) -> None:
    try:
        results = tuner.get_results()  # read from the saved state; runs nothing
    except RuntimeError:  # Ray's wording ("call fit() first") would mislead here
        raise ValueError("it holds no trial states") from None
    for result in results:
        ckpt = result.checkpoint
        if ckpt is not None and not complete(ckpt.filesystem, ckpt.path):
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
