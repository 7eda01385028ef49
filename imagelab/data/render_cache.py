"""Rendered toy dogs, cached: a later run with the same data settings reads its images instead of painting them.

Rendering the default lab's real data (pool, reservoir, judge and held-out splits)
takes 4-18 s on 2 cores, more than a generation's sampling, judging and metrics
together; the judge cache already saves the judge's training on every later run, and
this saves the rendering. A draw is stored as one uint8 safetensors file,
``$IMAGELAB_CACHE/toydogs/<key>.safetensors``, where the key hashes what decides its
pixels: the breeds, the per-split counts, the resolution, ``data.seed`` and the
renderer's own source files, so a change to the renderer renders anew rather than
serving stale images. A file that is unreadable or holds the wrong shapes is
rendered again, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from imagelab.data import toydog_breeds, toydogs
from imagelab.runs.atomic import atomic_write
from imagelab.runtime.cache import CACHE_ENV, building, cache_root

log = logging.getLogger("imagelab")

Splits = dict[str, list[torch.Tensor]]  # split name -> one (count, 3, R, R) uint8 tensor per breed
RENDERER_SOURCES = (toydogs, toydog_breeds)  # the modules whose code decides a rendered image's pixels


def renderer_version() -> str:
    """Hash of the renderer's source files: any edit to them changes every cache key."""
    digest = hashlib.sha256()
    for module in RENDERER_SOURCES:
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


def cache_entry(breeds: list[int], sizes: dict[str, list[int]], resolution: int, draw_seed: int | None) -> Path:
    key = {"renderer": renderer_version(), "breeds": breeds, "sizes": sizes, "resolution": resolution,
           "draw_seed": draw_seed}
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_root() / "toydogs" / f"{name}.safetensors"


def cached_splits(entry: Path, sizes: dict[str, list[int]], resolution: int, render: Callable[[], Splits]) -> Splits:
    """The splits stored at ``entry``, or ``render()``'s, stored there for the next run."""
    with building(entry, "rendering toy dogs"):
        stored = _read(entry, sizes, resolution)
        if stored is not None:
            log.info(f"data: the rendered toy dogs read from the cache ({entry})")
            return stored
        splits = render()
        _write(entry, splits)
        return splits


def _name(split: str, index: int) -> str:
    return f"{split}/{index}"


def _write(entry: Path, splits: Splits) -> None:
    tensors = {_name(split, i): images.contiguous() for split, per_breed in splits.items()
               for i, images in enumerate(per_breed) if len(images)}
    try:
        atomic_write(entry, lambda temp: save_file(tensors, str(temp)))
    except OSError as error:  # an unwritable cache only costs the rendering next time
        log.warning(f"could not cache the rendered toy dogs in {entry.parent}: {error}; "
                    f"set {CACHE_ENV} to a writable folder")


def _read(entry: Path, sizes: dict[str, list[int]], resolution: int) -> Splits | None:
    if not entry.is_file():
        return None
    try:
        with safe_open(str(entry), framework="pt") as handle:
            names = set(handle.keys())
            # A copy, not a view of the memory-mapped file: an edit to the file must not reach a running lab.
            splits = {split: [handle.get_tensor(_name(split, i)).clone() if _name(split, i) in names
                              else torch.empty((0, 3, resolution, resolution), dtype=torch.uint8)
                              for i in range(len(counts))]
                      for split, counts in sizes.items()}
    except (SafetensorError, OSError, ValueError) as error:
        log.warning(f"ignoring the damaged cache file {entry}: {error}")
        return None
    for split, counts in sizes.items():
        for images, count in zip(splits[split], counts):
            if images.shape != (count, 3, resolution, resolution) or images.dtype != torch.uint8:
                log.warning(f"ignoring the cache file {entry}: it holds {tuple(images.shape)} images for {split}, "
                            f"not {count} at {resolution}px")
                return None
    return splits
