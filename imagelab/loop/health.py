"""Health checks around the loop's stages: free disk space before sampling, and out-of-memory errors.

Both stop a run before anything on disk is damaged, with one line that names the
generation, what ran out and the setting to lower; earlier generations stay, and after
a disk-space stop the same command resumes the run.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import torch

from imagelab.errors import DeviceOutOfMemoryError, DiskSpaceError
from imagelab.report.grids import MIN_CELL

if TYPE_CHECKING:
    from imagelab.config import RunConfig

HEADROOM_BYTES = 64 * 2**20  # log lines, manifest and metrics rewrites, file-system overhead


# --- disk space --------------------------------------------------------------------------------


def generation_bytes(count: int, feature_dim: int, breeds: int, config: RunConfig) -> int:
    """A generous estimate of the bytes one generation writes from its sample stage on.

    samples.safetensors: (count, 3, H, W) uint8 + labels and provenance (int64 each);
    judgement.safetensors: labels and predicted (int64), confidence (float32), features (count, D) float32;
    grid.png and breeds.png counted as uncompressed RGB cells of at least MIN_CELL pixels a side.
    Doubled: an atomic write keeps its temporary next to an older copy until the rename.
    """
    side = config.data.resolution
    samples = count * (3 * side * side + 2 * 8)
    judgement = count * (8 + 8 + 4 + 4 * feature_dim)
    cells = config.eval.grid_samples + config.eval.breed_row_samples * (breeds + 1)
    grids = cells * 3 * max(side, MIN_CELL) ** 2
    return 2 * (samples + judgement + grids) + HEADROOM_BYTES


def require_free_space(root: Path, generation: int, needed: int, count: int) -> None:
    """Stop with DiskSpaceError if the file system of ``root`` has fewer than ``needed`` bytes free.

    ``count`` is the generation's number of samples, the figure a user can lower.
    """
    free = shutil.disk_usage(root).free
    if free < needed:
        raise DiskSpaceError(
            f"generation {generation} needs about {_size(needed)} free in {root} for its samples, judgement and "
            f"grids, but only {_size(free)} is free; free some space, choose another --out, or lower "
            f"loop.samples_per_generation (now {count}); "
            "the run so far is intact, run the same command again to resume")


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


# --- out of memory -----------------------------------------------------------------------------


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeError CPU and MPS allocators raise when memory runs out."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    message = str(error)
    return isinstance(error, RuntimeError) and ("out of memory" in message or "can't allocate memory" in message)


def settings_to_lower(stage: str, config: RunConfig) -> list[str]:
    """The config keys whose lower values shrink what ``stage`` holds in memory at once, with their values."""
    generator = config.generator
    samples = f"loop.samples_per_generation (now {config.loop.samples_per_generation or 'the real pool size'})"
    if stage == "fit":
        if hasattr(generator, "batch_size"):
            return [f"generator.batch_size (now {generator.batch_size})"]
        max_count = config.data.imbalance.max_count or "derived from the photo counts, see manifest.json"
        return [f"the pool size (data.imbalance.max_count, now {max_count})"]
    if stage == "sample":
        if hasattr(generator, "sample_batch_size"):
            return [f"generator.sample_batch_size (now {generator.sample_batch_size})"]
        return [samples]
    if stage == "judge":
        # Judging runs in fixed batches of 512 images, so only a smaller classifier needs less memory.
        return [f"the judge's size (judge.model, now {config.judge.model})"]
    # metrics: FID statistics and the k-NN metrics' (count x count) distance matrices grow with the sample count.
    return [samples]


@contextmanager
def out_of_memory_named(generation: int, stage: str, device: torch.device, config: RunConfig) -> Iterator[None]:
    """Turn an out-of-memory error inside a stage into one line naming where it happened and what to lower."""
    try:
        yield
    except (RuntimeError, MemoryError) as error:
        if not (isinstance(error, MemoryError) or is_out_of_memory(error)):
            raise
        fixes = " or ".join(settings_to_lower(stage, config))
        elsewhere = "" if device.type == "cpu" else ", or run on the CPU (device=cpu)"
        raise DeviceOutOfMemoryError(f"generation {generation}, stage {stage}: {device} ran out of memory; "
                                     f"lower {fixes}{elsewhere}") from error
