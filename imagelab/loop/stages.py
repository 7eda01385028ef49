"""Bookkeeping of the loop's stages: time each one, and mark it complete in the manifest once it is."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

import torch

from imagelab.config import RunConfig
from imagelab.loop.health import out_of_memory_named
from imagelab.runs.folder import RunFolder


@contextmanager
def stage(folder: RunFolder, generation: int, name: str, device: torch.device,
          config: RunConfig) -> Iterator[dict]:
    """Time a generation's stage and mark it complete once its body has finished (its files are in place).

    The body may add facts to the yielded dict for the manifest. On CUDA the manifest also
    gets the stage's peak GPU memory (``peak_gpu_mib``), the figure to watch when choosing
    batch sizes; running out of memory stops the run naming the setting to lower.
    """
    info: dict = {}
    start = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with out_of_memory_named(generation, name, device, config):
        yield info
    if device.type == "cuda":
        info["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
    folder.mark_stage(generation, name, time.perf_counter() - start, **info)


@contextmanager
def setup_step(folder: RunFolder, name: str) -> Iterator[dict]:
    """Time a step before generation 0 (data, judge, reference features) into the manifest's ``setup``."""
    info: dict = {}
    start = time.perf_counter()
    yield info
    timings = folder.manifest.setdefault("setup", {})
    timings[name] = {"seconds": round(time.perf_counter() - start, 3), **info}
    folder.save_manifest()
