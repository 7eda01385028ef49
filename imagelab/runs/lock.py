"""One writer per run folder: an advisory lock held for the whole of `imagelab run`.

The lock is ``flock`` on a small file in the run folder. flock belongs to the open
file, so the kernel drops it when the process ends in any way, SIGKILL and crashes
included: a lock file left behind by a killed run never blocks the next one, and
nothing has to be cleaned up by hand. Readers (`imagelab report`, `imagelab compare`)
take no lock, so a report can be built while a run is going. POSIX only (fcntl).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from imagelab.errors import RunFolderError

LOCK_FILE = ".imagelab.lock"

# Run folders this process holds, by resolved path -> open descriptor. Reopening a folder this
# process already holds is allowed (flock would refuse a second descriptor of the same process).
_held: dict[Path, int] = {}


def acquire(root: Path) -> None:
    """Lock ``root`` (an existing folder) for this process, or refuse if another process holds it."""
    if root in _held:
        return
    descriptor = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(descriptor, 32).decode(errors="replace").strip()
        os.close(descriptor)
        who = f"process {holder}" if holder.isdigit() else "another process"
        raise RunFolderError(
            f"{root} is in use by {who} (an imagelab run holds {LOCK_FILE}); wait for it to finish or stop it, "
            "or choose another --out (`imagelab report` works while it runs)"
        ) from None
    # The holder's pid, only to name it in the refusal above; the lock itself is the flock.
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    _held[root] = descriptor


def release(root: Path) -> None:
    """Give the lock back (closing the descriptor drops the flock); the lock file stays."""
    descriptor = _held.pop(root, None)
    if descriptor is not None:
        os.close(descriptor)


def release_all() -> None:
    for root in list(_held):
        release(root)
