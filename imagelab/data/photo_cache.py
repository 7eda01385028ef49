"""Preprocessed photos, cached once per breed as a uint8 safetensors file.

Decoding and resizing thousands of JPEGs takes minutes; a later run on the same
files and settings reads ``$IMAGELAB_CACHE/photos/<source key>/<breed>.safetensors``
in well under a second instead. The source key hashes the dataset's folder and the
preprocessing settings (resolution, data.min_side); each breed's file carries a
fingerprint of its file list (relative paths, sizes, modification times) in its
metadata, so adding, removing or changing a photo rebuilds that breed alone.
Files that could not be used are recorded with the images, so a run from the cache
reports them just like the run that decoded them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from imagelab.data.decode import Skipped, decode_photo, huge_photos_allowed
from imagelab.runs.atomic import atomic_write
from imagelab.runtime.cache import CACHE_ENV, cache_root
from imagelab.runtime.progress import progress_bar

log = logging.getLogger("imagelab")

CACHE_FORMAT = 1  # bump when decode_photo changes what a cached image looks like
MAX_THREADS = 8  # PIL releases the GIL while decoding, so threads scale with cores


@dataclass(frozen=True)
class BreedPhotos:
    images: torch.Tensor  # (N, 3, R, R) uint8, in the order of ``kept``
    kept: list[str]  # file paths relative to the source folder
    skipped: list[Skipped]


def fingerprint(files: list[Path], source: Path) -> str:
    """Hash of a breed's file list: relative paths, sizes and modification times."""
    entries = []
    for path in files:
        try:
            stat = path.stat()
            entries.append((path.relative_to(source).as_posix(), stat.st_size, stat.st_mtime_ns))
        except FileNotFoundError:  # listed (by an annotation file) but absent: decoding reports it
            entries.append((path.relative_to(source).as_posix(), -1, -1))
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


def cache_folder(source: Path, resolution: int, min_side: int) -> Path:

    key = {"format": CACHE_FORMAT, "source": str(source.resolve()), "resolution": resolution, "min_side": min_side}
    return cache_root() / "photos" / hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def load_photos(files_by_breed: dict[str, list[Path]], source: Path, resolution: int,
                min_side: int) -> dict[str, BreedPhotos]:
    """Each breed's photos, preprocessed: from the cache where it is current, else decoded now and cached."""
    folder = cache_folder(source, resolution, min_side)
    prints = {breed: fingerprint(files, source) for breed, files in files_by_breed.items()}
    loaded = {breed: _read(folder / f"{breed}.safetensors", prints[breed]) for breed in files_by_breed}
    missing = [breed for breed, photos in loaded.items() if photos is None]
    if missing:
        total = sum(len(files_by_breed[b]) for b in missing)
        with progress_bar(total, f"preprocessing photos to {resolution}px", unit="img") as bar, \
                ThreadPoolExecutor(max_workers=min(MAX_THREADS, os.cpu_count() or 1)) as pool, huge_photos_allowed():
            for breed in missing:
                photos = _decode(files_by_breed[breed], source, resolution, min_side, pool, bar)
                _write(folder / f"{breed}.safetensors", photos, prints[breed], resolution)
                loaded[breed] = photos
        log.info(f"data: preprocessed {total} files of {len(missing)} breeds; cached in {folder}")
    return loaded  # type: ignore[return-value]


def _decode(files: list[Path], source: Path, resolution: int, min_side: int, pool: ThreadPoolExecutor,
            bar: Any) -> BreedPhotos:
    images, kept, skipped = [], [], []
    for path, result in zip(files, pool.map(lambda p: decode_photo(p, resolution, min_side), files)):
        bar.update(1)
        if isinstance(result, Skipped):
            skipped.append(result)
        else:
            images.append(result)
            kept.append(path.relative_to(source).as_posix())
    stacked = torch.stack(images) if images else torch.empty((0, 3, resolution, resolution), dtype=torch.uint8)
    return BreedPhotos(stacked, kept, skipped)


def _write(path: Path, photos: BreedPhotos, print_: str, resolution: int) -> None:
    metadata = {"fingerprint": print_, "resolution": str(resolution), "kept": json.dumps(photos.kept),
                "skipped": json.dumps([[s.path, s.reason] for s in photos.skipped])}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda temp: save_file({"images": photos.images.contiguous()}, str(temp), metadata=metadata))
    except OSError as error:  # an unwritable cache only costs time next run

        log.warning(f"could not cache preprocessed photos in {path.parent}: {error}; "
                    f"set {CACHE_ENV} to a writable folder")


def _read(path: Path, print_: str) -> BreedPhotos | None:
    """The cached photos at ``path`` if they were made from the same files, else None."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("fingerprint") != print_:
                return None
            images = handle.get_tensor("images")
        kept = json.loads(metadata["kept"])
        skipped = [Skipped(p, reason) for p, reason in json.loads(metadata["skipped"])]
    except (SafetensorError, OSError, ValueError, KeyError) as error:  # a damaged cache file is rebuilt, not trusted
        log.warning(f"ignoring the damaged cache file {path}: {error}")
        return None
    return BreedPhotos(images, kept, skipped)
