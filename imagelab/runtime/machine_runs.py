"""Which imagelab runs are live on this machine, so that runs sharing its cores can split them.

Two ``imagelab run`` commands started together each see every core and would each start
a torch thread per core. torch's OpenMP threads spin while they wait for work, so 4
threads on 2 cores do not just share them: they take turns spinning, and each run slows
down several-fold (benchmarks/concurrency.py --unshared; the numbers are in docs/speed.md).

Each run therefore holds an entry here while it works: a file named after its host and
process id in ``<cache>/live-runs/``, with the time it started. A run counts this host's
entries whose process is still alive (a killed run's entry is removed by whoever finds
it) and takes its share of the cores (runtime/threads.py, ``shared``). The folder is per
user, beside the judge cache (``$IMAGELAB_CACHE``): runs that share a cache coordinate; a
run with a private cache, as in the tests, is alone. A cache shared by the nodes of a
cluster holds every node's entries, and each node counts only its own.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from imagelab.runtime.cache import cache_root

FOLDER_NAME = "live-runs"


def registry_folder() -> Path:
    return cache_root() / FOLDER_NAME


def _host_prefix() -> str:
    return f"{socket.gethostname()}-"


@contextmanager
def registered(folder: Path | None = None) -> Iterator[None]:
    """Hold this process's entry in the live-run registry while the body runs.

    A registry that cannot be written (a read-only cache) leaves the run unregistered:
    the others do not count it.
    """
    folder = folder or registry_folder()
    entry = folder / f"{_host_prefix()}{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        entry.write_text(f"{time.time():.3f}\n")
    except OSError:
        yield
        return
    try:
        yield
    finally:
        entry.unlink(missing_ok=True)


def live_runs(folder: Path | None = None) -> int:
    """Runs live on this machine with an entry in ``folder``, this process's included if registered."""
    folder = folder or registry_folder()
    prefix = _host_prefix()
    try:
        entries = [path for path in folder.iterdir()
                   if path.name.startswith(prefix) and path.name[len(prefix):].isdigit()]
    except OSError:
        return 0
    alive = 0
    for entry in entries:
        if _process_alive(int(entry.name[len(prefix):])):
            alive += 1
        else:
            try:
                entry.unlink(missing_ok=True)  # a run that was killed before it could remove its entry
            except OSError:
                pass  # a registry this process may not change: the dead entry is just not counted
    return alive


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: no signal, only the check that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True
