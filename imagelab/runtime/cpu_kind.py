"""What kind of CPU a run's numbers came from: its model name and the vector instructions torch's kernels use.

The same config and seed give a byte-identical ``metrics.csv`` only on the same kind of
machine: torch's CPU kernels and oneDNN pick other code for AVX2 than for AVX-512, and the
last bits that differ grow, over generations, into visibly different samples
(docs/reliability.md#determinism). A model name alone does not tell two machines apart (a
cloud VM may report only "AMD EPYC" for several generations of chips), so the record also
holds torch's CPU capability: the instruction set its kernels were dispatched to.
"""

from __future__ import annotations

import platform
from pathlib import Path

import torch

CPUINFO = Path("/proc/cpuinfo")


def cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what the platform module knows."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_kind() -> dict[str, str]:
    """{"model": the CPU's model name, "capability": torch's kernel instruction set, e.g. "AVX2", "AVX512"}."""
    return {"model": cpu_model(), "capability": torch.backends.cpu.get_cpu_capability()}


def describe_cpu(kind: dict) -> str:
    """A recorded kind as words: "AMD EPYC (AVX512)"."""
    return f"{kind.get('model', 'an unknown CPU')} ({kind.get('capability', 'unknown kernels')})"
