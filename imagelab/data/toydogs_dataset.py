"""The embedded dataset as a Dataset: toy dogs rendered on demand (and cached), no files needed."""

from __future__ import annotations

import torch

from imagelab.data.render_cache import cache_entry, cached_splits
from imagelab.data.splits import DATASETS, Dataset, breed_order
from imagelab.data.toydogs import BREEDS, render_dogs
from imagelab.errors import ConfigError
from imagelab.seeding import derive_seed


@DATASETS.register("toydogs")
class ToyDogs(Dataset):
    breeds = BREEDS
    rendered = True  # any number of dogs, and their backgrounds without one
    follows_data_seed = True

    def __init__(self, config) -> None:
        self.check_source(config)
        self.draw_seed = config.seed  # None: the one fixed draw of every run

    @classmethod
    def check_source(cls, config) -> None:
        if config.root is not None:
            raise ConfigError("data.root",
                              "toydogs is rendered, not read from disk; remove data.root or use data.name=folder")
        if config.download:
            raise ConfigError("data.download", "toydogs is rendered, nothing to download; remove data.download")
        breed_order(BREEDS, config.breeds)

    def draw_splits(self, breeds: list[int], sizes: dict[str, list[int]],
                    resolution: int) -> dict[str, list[torch.Tensor]]:
        """Every split's images, read from the render cache when an earlier run drew the same (render_cache.py)."""
        def render() -> dict[str, list[torch.Tensor]]:
            return {split: [self.draw(split, breed, count, resolution) for breed, count in zip(breeds, counts)]
                    for split, counts in sizes.items()}

        entry = cache_entry(list(breeds), sizes, resolution, self.draw_seed)
        return cached_splits(entry, sizes, resolution, render)

    def draw(self, split: str, breed: int, count: int, resolution: int) -> torch.Tensor:
        """``count`` images of ``breed`` for ``split``, never shared with another split."""
        # Each image has its own seed, named by split, breed and index, so splits never share an image
        # and a split's first k images are the same whatever count is asked for.
        # data.seed, when set, enters every image's seed: another draw, still disjoint between splits.
        draw = () if self.draw_seed is None else (self.draw_seed,)
        seeds = [derive_seed("toydogs", *draw, split, breed, i) for i in range(count)]
        return render_dogs(torch.full((count,), breed, dtype=torch.int64), seeds, resolution)
