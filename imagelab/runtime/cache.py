"""The cache folder shared by every run: trained judges, preprocessed photos, Inception weights.

``$IMAGELAB_CACHE``, or ``~/.cache/imagelab`` when it is unset. Runs started together
(``imagelab sweep --jobs``, or two ``imagelab run`` commands) share it: an entry is
written atomically, and ``building`` lets one of them build an entry while the others wait
for it instead of building it too.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CACHE_ENV = "IMAGELAB_CACHE"

log = logging.getLogger("imagelab")


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "imagelab").expanduser()


@contextmanager
def building(entry: Path, what: str) -> Iterator[None]:
    """Hold the cache entry ``entry`` for this process while the body checks for it and builds it.

    Another process that asks for the same entry waits here until the body is done, then
    finds the entry in place. The lock is ``flock`` on ``.<name>.lock`` beside the entry,
    dropped by the kernel if the process dies. A cache folder that cannot hold the lock
    file (read-only) is used without one: at worst two processes build the same entry.
    """
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(entry.parent / f".{entry.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info(f"waiting for another process to finish {what} in {entry}")
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing drops the flock
