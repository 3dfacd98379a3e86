"""One writer per guest: a rehearsal holds an exclusive lock on its guest for as long as it acts on it."""

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from provision.errors import RehearseError
from provision.guests import private
from provision.layout import workplace


class GuestBusy(RehearseError):
    """Another `rehearse` is acting on the same guest."""


def checkout_id() -> str:
    """Short and stable for this checkout (or, installed, this working directory), so two of them on one
    host never share a guest."""
    return hashlib.sha256(str(workplace()).encode()).hexdigest()[:8]


@contextmanager
def exclusive(guest: str) -> Iterator[Path]:
    """Hold the lock of `guest` (of this checkout); a second holder is refused at once, never queued.

    flock: the kernel drops it when the holder dies, so a killed run leaves no stale lock. The lock file
    lives in the harness's private directory and is opened without following a symlink: no other local
    user can steer what root truncates and writes here."""
    path = private.directory("locks") / f"{checkout_id()}-{hashlib.sha256(guest.encode()).hexdigest()[:12]}.lock"
    with os.fdopen(private.open_file(path), "r+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise GuestBusy(
                f"{guest} is busy: {holder} is rehearsing on it (lock {path}); wait for it to end"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"rehearse pid {os.getpid()}\n")
        f.flush()
        try:
            yield path
        finally:
            f.truncate(0)
            fcntl.flock(f, fcntl.LOCK_UN)
