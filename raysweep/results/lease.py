"""One driver per sweep: a lease in storage, taken before anything is deleted or written.

Two drivers on one sweep would share `<storage>/<sweep>/tune/` (a run without --resume empties
it), run the same trials into the same folders and tear down each other's actors. So a driver
takes `<storage>/<sweep>/driver.lease` first; `raysweep tables`, `analyze` and `--dry-run` read
only and need none.

- Local storage: an exclusive, non-blocking `flock` on the lease file, held for the driver's
  life. The kernel releases it when the holder dies, however it dies (SIGKILL included), so a
  stale lease is simply taken over; the file records who holds it (host, pid, since when).
- Object storage has no locks: the lease is an object holding its holder and a heartbeat the
  holder renews every HEARTBEAT_S. A lease whose heartbeat is older than STALE_S is stale and
  is taken over. Taking one writes it and reads it back after SETTLE_S: of two drivers racing
  for a free lease, the one whose write landed last wins and the other backs off. (S3 offers no
  compare-and-swap through pyarrow; this closes the race to the settle window.)
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Optional

from raysweep._core import storage
from raysweep._core.errors import UserError

LEASE = "driver.lease"
HEARTBEAT_S = 15.0
STALE_S = 90.0
SETTLE_S = 2.0


def holder_info() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time(), "token": uuid.uuid4().hex}


def describe(info: dict[str, Any]) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info.get("since", 0))))
    return f"host {info.get('host', '?')}, pid {info.get('pid', '?')}, since {since}"


def busy(sweep: str, info: dict[str, Any]) -> UserError:
    return UserError(f"sweep {sweep!r} is already being run by another driver ({describe(info)}); "
                     "wait for it to finish or stop it, then rerun with --resume")


@dataclass
class Lease:
    """A held lease; `release()` (or leaving the `with` block) gives it back."""

    sweep: str
    where: storage.Location
    info: dict[str, Any]
    _fd: Optional[int] = None
    _stop: Optional[threading.Event] = None

    def release(self) -> None:
        if self._stop is not None:
            self._stop.set()
            current = _read(self.where)
            if current is not None and current.get("token") == self.info["token"]:
                self.where.fs.delete_file(self.where.path)
        if self._fd is not None:
            os.close(self._fd)  # drops the flock; the file stays, naming its last holder
            self._fd = None

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(where: str | storage.Location, sweep: str) -> Lease:
    """Take the lease of `<where>/<sweep>` or raise a UserError naming its holder."""
    loc = storage.resolve(where) / sweep / LEASE
    storage.make_dir(loc.parent)
    return _acquire_local(loc, sweep) if loc.is_local else _acquire_remote(loc, sweep)


def _acquire_local(loc: storage.Location, sweep: str) -> Lease:
    import fcntl  # POSIX only: a lease in object storage never needs it

    fd = os.open(loc.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        info = _parse(os.pread(fd, 4096, 0))
        os.close(fd)
        raise busy(sweep, info) from None
    info = holder_info()
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    os.fsync(fd)
    return Lease(sweep, loc, info, _fd=fd)


def _parse(data: Optional[bytes]) -> dict[str, Any]:
    try:
        return json.loads(data or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}


def _read(loc: storage.Location) -> Optional[dict[str, Any]]:
    data = storage.read_bytes(loc)
    return None if data is None else _parse(data)


def _acquire_remote(loc: storage.Location, sweep: str, now: Optional[float] = None) -> Lease:
    current = _read(loc)
    now = time.time() if now is None else now
    if current and now - float(current.get("heartbeat", current.get("since", 0))) < STALE_S:
        raise busy(sweep, current)
    info = {**holder_info(), "heartbeat": now}
    storage.atomic_write_bytes(loc, json.dumps(info).encode())
    time.sleep(SETTLE_S)
    won = _read(loc)
    if not won or won.get("token") != info["token"]:
        raise busy(sweep, won or {})
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(loc, info, stop), daemon=True, name="raysweep-lease").start()
    return Lease(sweep, loc, info, _stop=stop)


def _heartbeat(loc: storage.Location, info: dict[str, Any], stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        current = _read(loc)
        if current is None or current.get("token") != info["token"]:
            return  # taken over (we were presumed dead): the new holder owns it now
        storage.atomic_write_bytes(loc, json.dumps({**info, "heartbeat": time.time()}).encode())
