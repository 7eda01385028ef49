"""How many CPU threads a run's torch uses: the CPUs this process may really use, unless the user said.

``os.cpu_count()`` is the host's count. A container, a batch scheduler or ``taskset``
gives a process fewer: its CPU affinity (``os.sched_getaffinity``) lists the CPUs it
may run on, and a cgroup CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` over
``cpu.cfs_period_us``) caps how much of them it gets. A torch process that starts a
thread per host core on such a share spins its threads against each other.

The count, in order of precedence:

1. ``threads`` given to the run (``imagelab run --threads N``; ``imagelab sweep --jobs``
   gives each of its runs its share this way);
2. ``OMP_NUM_THREADS`` in the environment;
3. a ``torch.set_num_threads`` the user made after importing imagelab;
4. otherwise the physical cores among the CPUs of the affinity (torch, too, counts
   physical cores, not hyperthreads), at most the cgroup quota rounded down, at least 1,
   divided between the imagelab runs live on the machine (``SharedThreads``).

Only the automatic count (4) is divided: a count the user gave is theirs to split. A run
re-divides before each of its stages, so a run that started alone gives cores up when
others start and takes them back when they end; each stage's count goes into the
manifest beside its seconds.

Metrics depend slightly on the thread count (reductions are split differently), so
the choice and where it came from go into the run's manifest (``threads``). On a
machine without affinity or quota limits the automatic count is torch's own default:
nothing changes there.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from imagelab.errors import ConfigError

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
CPU_TOPOLOGY = Path("/sys/devices/system/cpu")

# torch's count when imagelab was imported: a different count at run start is the user's set_num_threads.
_TORCH_THREADS_AT_IMPORT = torch.get_num_threads()
_applied: ThreadChoice | None = None  # what the last run in this process set
_interop_set = False  # torch allows set_num_interop_threads once per process, before any parallel work
USER_SET = "torch.set_num_threads"  # the source of a count the user set with torch.set_num_threads
AUTOMATIC = ("cpu affinity", "cgroup cpu quota")  # the sources of a count imagelab chose from the machine


@dataclass(frozen=True)
class CpuShare:
    """The CPUs this process may use, as the machine reports them."""

    affinity: int  # CPUs in the affinity mask (logical CPUs)
    physical_cores: int  # distinct physical cores among them
    quota: float | None  # CPUs the cgroup quota allows (quota / period), None when unlimited or unknown

    @property
    def usable(self) -> tuple[int, str]:
        """The thread count this share supports, and which limit set it."""
        if self.quota is not None and math.floor(self.quota) < self.physical_cores:
            return max(1, math.floor(self.quota)), "cgroup cpu quota"
        return self.physical_cores, "cpu affinity"


@dataclass(frozen=True)
class ThreadChoice:
    count: int
    source: str  # where the count came from: "threads", "OMP_NUM_THREADS", "torch.set_num_threads", ...
    share: CpuShare  # what the machine gives this process, whatever decided the count

    def record(self) -> dict:
        """The manifest's ``threads`` entry: ``{"count": 2, "from": "cpu affinity", "cpus": {...}}``."""
        return {"count": self.count, "from": self.source, "cpus": asdict(self.share)}


def cpu_share(affinity: set[int] | None = None, cgroup_root: Path = CGROUP_ROOT,
              proc_cgroup: Path = PROC_CGROUP, topology: Path = CPU_TOPOLOGY) -> CpuShare:
    """Affinity, physical cores and cgroup quota of this process (the arguments are for tests)."""
    cpus = affinity if affinity is not None else _affinity()
    return CpuShare(len(cpus), physical_cores(cpus, topology), cgroup_quota(cgroup_root, proc_cgroup))


def physical_cores(cpus: set[int], topology: Path = CPU_TOPOLOGY) -> int:
    """Distinct physical cores among logical CPUs ``cpus`` (each hyperthread pair counts once).

    Read from ``topology/cpuN/topology/thread_siblings_list``; a CPU whose file is
    unreadable counts as a core of its own.
    """
    cores = set()
    for cpu in cpus:
        try:
            cores.add((topology / f"cpu{cpu}" / "topology" / "thread_siblings_list").read_text().strip())
        except OSError:
            cores.add(f"cpu{cpu}")
    return max(1, len(cores))


def cgroup_quota(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """CPUs this process's cgroup quota allows, the tightest of its cgroup and the cgroups above it.

    None when no quota is set or none can be read (not Linux, no cgroup mount).
    """
    limits = [limit for folder in _cgroup_folders(cgroup_root, proc_cgroup)
              if (limit := _folder_quota(folder)) is not None]
    return min(limits, default=None)


def choose_threads(threads: int | None = None, environ: dict | None = None,
                   share: CpuShare | None = None) -> ThreadChoice:
    """The thread count for a run (precedence in the module docstring)."""
    environ = os.environ if environ is None else environ
    share = share or cpu_share()
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError("threads", f"must be a positive integer, e.g. 2; got {threads!r}")
        return ThreadChoice(threads, "threads", share)
    if environ.get("OMP_NUM_THREADS", "").strip():
        return ThreadChoice(_omp_threads(environ["OMP_NUM_THREADS"]), "OMP_NUM_THREADS", share)
    current = torch.get_num_threads()
    if _applied is not None and current == _applied.count and _applied.source == USER_SET:
        return ThreadChoice(current, USER_SET, share)  # the user's count still holds for a later run
    if current != (_applied.count if _applied is not None else _TORCH_THREADS_AT_IMPORT):
        return ThreadChoice(current, USER_SET, share)
    return ThreadChoice(*share.usable, share)


def apply_threads(choice: ThreadChoice) -> None:
    """Set torch's intra-op threads (and, the first time in a process, its inter-op threads) to the choice."""
    global _applied, _interop_set
    if torch.get_num_threads() != choice.count:  # untouched otherwise: a forked process may not resize its pool
        torch.set_num_threads(choice.count)
    _applied = choice
    if not _interop_set:
        _interop_set = True
        try:
            torch.set_num_interop_threads(choice.count)
        except RuntimeError:
            pass  # inter-op work has already started in this process (a notebook): torch keeps its pool


def shared(choice: ThreadChoice, runs: int) -> ThreadChoice:
    """``choice`` when ``runs`` imagelab runs (this one included) share the machine: an automatic count divided."""
    if choice.source not in AUTOMATIC or runs <= 1:
        return choice
    return ThreadChoice(max(1, choice.count // runs), f"{choice.source}, shared by {runs} imagelab runs",
                        choice.share)


class SharedThreads:
    """A run's torch threads, re-divided between the imagelab runs live on the machine whenever asked.

    ``base`` is the run's own choice (``choose_threads``); ``live_runs`` counts the live
    runs, this one included (runtime/machine_runs.py).
    """

    def __init__(self, base: ThreadChoice, live_runs: Callable[[], int]) -> None:
        self.base = base
        self.live_runs = live_runs
        self.current: ThreadChoice | None = None

    def update(self) -> ThreadChoice:
        """Apply the share for the runs live now; returns it (the same object while nothing changed)."""
        choice = shared(self.base, self.live_runs())
        if self.current is None or choice.count != self.current.count or choice.source != self.current.source:
            apply_threads(choice)
            self.current = choice
        return self.current


def _affinity() -> set[int]:
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))  # macOS, Windows: no affinity call; every CPU


def _omp_threads(text: str) -> int:
    # OpenMP allows a list for nested levels ("4,2"); the first is the outer (torch's) level.
    first = text.split(",")[0].strip()
    if not first.isdigit() or int(first) < 1:
        raise ConfigError("OMP_NUM_THREADS", f"must be a positive integer, e.g. 2; got {text!r} "
                                             "(unset it to let imagelab choose)")
    return int(first)


def _cgroup_folders(cgroup_root: Path, proc_cgroup: Path) -> list[Path]:
    """The cgroup folders whose CPU limits apply to this process: its own, and each one above it."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    folders = []
    for line in lines:
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hierarchy == "0" and controllers == "":
            mounts = [cgroup_root]  # v2: one unified hierarchy
        elif "cpu" in controllers.split(","):
            mounts = [cgroup_root / name for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu")]  # v1
        else:
            continue
        parts = [part for part in path.strip().split("/") if part]
        for mount in mounts:
            # Inside a container the mount is the container's own cgroup and the path may not exist under it.
            folders += [mount.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]
    if not lines:
        folders = [cgroup_root, cgroup_root / "cpu"]
    return list(dict.fromkeys(folder for folder in folders if folder.is_dir()))


def _folder_quota(folder: Path) -> float | None:
    """The quota in ``folder`` as CPUs: v2 ``cpu.max`` ("max 100000" = none) or v1 quota/period (-1 = none)."""
    try:
        if (folder / "cpu.max").is_file():
            quota, _, period = (folder / "cpu.max").read_text().strip().partition(" ")
            return None if quota == "max" else int(quota) / int(period or 100_000)
        if (folder / "cpu.cfs_quota_us").is_file():
            quota_us = int((folder / "cpu.cfs_quota_us").read_text())
            period_us = int((folder / "cpu.cfs_period_us").read_text())
            return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None  # an unreadable or odd file sets no limit
    return None

