"""What every benchmark script shares: the name of the CPU it ran on, and timed blocks.

The scripts run as files (``python benchmarks/NAME.py``), so Python puts this folder
on the path and ``from measuring import ...`` finds this module.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Callable

import torch

from imagelab.runtime.cpu_kind import cpu_kind
from imagelab.runtime.cpu_kind import cpu_model as cpu_name  # noqa: F401 - the scripts import it from here


def cpu_machine() -> dict:
    """The CPU machine a benchmark ran on: its CPU and torch's kernels for it, the cores this process may use,
    torch and Python."""
    kind = cpu_kind()  # what a run's manifest records under "cpu"
    return {"cpu": kind["model"], "cpu_capability": kind["capability"],
            "cores": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
            "torch_default_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform()}


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded: how busy the machine was."""
    return [round(x, 2) for x in os.getloadavg()]


def block_seconds(action: Callable[[], object], repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``action``, after one untimed warm-up (allocator, threads, cuDNN).

    CUDA work is waited for, so a block ends when its kernels do.
    """
    action()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return seconds
