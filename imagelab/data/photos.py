"""A finite collection of photos on disk, grouped by breed, dealt out to the run's splits.

Subclasses (folder layouts, Oxford-IIIT Pet) only find the files of each breed;
this class preprocesses them (through the cache in ``photo_cache``), reports the
files it could not use, and gives every split its own images. Each breed's photos
are shuffled once by a seed derived from the breed's name (and ``data.seed`` when it
is set), never from the run seed, and cut into consecutive runs in the order of ``SPLIT_SIZES``; a breed that holds
too few photos for what the config asks stops the run with the numbers. Split sizes
the config leaves out are derived from the usable photos of each breed
(``usable_counts``, ``imagelab.data.split_sizes``).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import torch

from imagelab.data.photo_cache import BreedPhotos, fingerprint, load_photos
from imagelab.data.splits import Dataset
from imagelab.errors import ConfigError, DataError
from imagelab.seeding import derive_seed, torch_generator

log = logging.getLogger("imagelab")

MAX_SKIPPED_IN_MANIFEST = 100  # every skipped file is in log.txt; the manifest keeps the first ones


class PhotoDataset(Dataset):
    """``files_by_breed``: breed name -> its image files (sorted), all under ``source``."""

    follows_data_seed = True

    def __init__(self, config, source: Path, files_by_breed: dict[str, list[Path]]) -> None:
        self.config = config
        self.source = source
        self.files_by_breed = files_by_breed
        self.breeds = tuple(files_by_breed)
        self.photos: dict[str, BreedPhotos] = {}
        self._loaded: tuple[tuple[str, ...], int] | None = None  # (breeds, resolution) that self.photos holds

    def usable_counts(self, breeds: list[int], resolution: int) -> list[int]:
        names = [self.breeds[i] for i in breeds]
        self._require_files(names)
        self._load(names, resolution)
        return [len(self.photos[name].images) for name in names]

    def draw_splits(self, breeds: list[int], sizes: dict[str, list[int]],
                    resolution: int) -> dict[str, list[torch.Tensor]]:
        names = [self.breeds[i] for i in breeds]
        self._require_files(names)
        for position, name in enumerate(names):
            # Before minutes of decoding: even if every file were usable, would there be enough?
            _check_enough(name, {split: counts[position] for split, counts in sizes.items()},
                          len(self.files_by_breed[name]), "files")
        self._load(names, resolution)
        drawn: dict[str, list[torch.Tensor]] = {split: [] for split in sizes}
        for position, name in enumerate(names):
            images = self.photos[name].images
            wanted = {split: counts[position] for split, counts in sizes.items()}
            _check_enough(name, wanted, len(images))
            # A fixed shuffle per breed (by its name), then consecutive runs: split s gets images [start, start + n).
            draw = () if self.config.seed is None else (self.config.seed,)
            order = torch.randperm(len(images), generator=torch_generator(derive_seed("photos", *draw, name)))
            start = 0
            for split, count in wanted.items():
                drawn[split].append(images[order[start:start + count]])
                start += count
        return drawn

    def _require_files(self, names: list[str]) -> None:
        for name in names:
            if not self.files_by_breed[name]:
                raise DataError(f"breed '{name}' has no image files in {self.source}; add its photos, or leave "
                                f"it out of data.breeds (or delete its empty folder)")

    def _load(self, names: list[str], resolution: int) -> None:
        """Decode (or read from the cache) the photos of ``names``, once per breeds and resolution."""
        if self._loaded == (tuple(names), resolution):
            return
        self.photos = load_photos({n: self.files_by_breed[n] for n in names}, self.source, resolution,
                                  self.config.min_side)
        self._report_skipped(names)
        self._loaded = (tuple(names), resolution)

    def _report_skipped(self, names: list[str]) -> None:
        """Log every file that could not be used; stop on the first one with data.strict."""
        for name in names:
            photos = self.photos[name]
            if photos.skipped and self.config.strict:
                first = photos.skipped[0]
                raise DataError(f"{first.path}: {first.reason} (data.strict is true; fix or remove the file, "
                                f"or set data.strict=false to skip such files)")
            for skipped in photos.skipped:
                log.warning(f"data: skipped {skipped.path}: {skipped.reason}")
            if not len(photos.images):
                raise DataError(f"breed '{name}' has no readable images in {self.source} "
                                f"({len(photos.skipped)} files skipped); add photos or leave it out of data.breeds")
        skipped = sum(len(self.photos[n].skipped) for n in names)
        if skipped:
            total = skipped + sum(len(self.photos[n].images) for n in names)
            log.warning(f"data: skipped {skipped} of {total} files that could not be used (listed above)")

    def identity(self) -> dict[str, Any]:
        # The judge cache must notice changed photos, not only a changed config.
        prints = [fingerprint(self.files_by_breed[b], self.source) for b in self.breeds]
        return {"source": str(self.source.resolve()),
                "files": hashlib.sha256("".join(prints).encode()).hexdigest()[:16],
                "min_side": self.config.min_side}

    def report(self) -> dict[str, Any]:
        skipped = [{"path": s.path, "reason": s.reason} for photos in self.photos.values() for s in photos.skipped]
        return {
            "source": str(self.source),
            "usable_images": {name: len(photos.images) for name, photos in self.photos.items()},
            "skipped_files": len(skipped),
            "skipped": skipped[:MAX_SKIPPED_IN_MANIFEST],
        }


def _check_enough(breed: str, wanted: dict[str, int], available: int, what: str = "usable images") -> None:
    needed = sum(wanted.values())
    if needed <= available:
        return
    parts = " + ".join(f"{split} {count}" for split, count in wanted.items())
    raise ConfigError("data", f"breed '{breed}' has {available} {what} but the splits need {needed} "
                              f"({parts}); lower data.judge_train_per_breed, data.eval_per_breed or the pool "
                              f"(data.imbalance.max_count, or data.imbalance.counts), or put breeds with more "
                              f"images first in data.breeds (the first breed gets the most)")


def require_root(config, dataset: str, how_to_get: str) -> Path:
    """``data.root`` as an existing folder, or a DataError saying how to get the data."""
    if config.root is None:
        raise ConfigError("data.root", f"data.name={dataset} reads photos from disk: set data.root to the folder "
                                       f"that holds them ({how_to_get})")
    root = Path(config.root).expanduser()
    if not root.is_dir():
        raise DataError(f"data.root: no folder {root} ({how_to_get})")
    return root
