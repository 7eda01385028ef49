"""The real data of a run: one dataset cut into disjoint splits.

- ``judge_train``: a balanced split the judge learns from;
- ``judge_eval``: a balanced held-out split for the judge's accuracy;
- ``reference``: held-out images with the pool's breed proportions and size, the
  real side of FID (so generation 0's FID is the real-vs-real noise floor);
- ``pool``: the class-imbalanced generation-0 training pool;
- ``reservoir``: only when a loop draws fresh real data each generation: blocks of
  new real images, each with the pool's breed counts, one block per generation that
  needs them (dealt out last, so it never changes the other splits).

The splits depend only on the data config, never on the run seed: runs with other
seeds share the same real data and the same (cached) judge, unless ``data.seed``
asks for another draw (``imagelab run --seeds --vary data``). A rendered dataset
(toydogs) draws each split from its own seeds; a finite one (photos on disk) deals
each breed's images out to all splits at once, in the order of ``SPLIT_SIZES``,
so no image lands in two splits. How many images each split gets is the config's
choice, or, for sizes it leaves out on a photo dataset, derived from the breeds'
photo counts (``split_sizes``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from imagelab.data.imageset import ImageSet
from imagelab.data.split_sizes import SplitSizes, left_to_derive, plan_split_sizes
from imagelab.errors import ConfigError
from imagelab.registry import Registry

# Images per breed of each split, from the run's SplitSizes. The judge's splits come first: a finite dataset
# deals images out in this order, so the judge's images do not depend on the pool's settings.
# Adding a split is one entry here.
SplitSize = Callable[[SplitSizes], list[int]]
SPLIT_SIZES: dict[str, SplitSize] = {
    "judge_train": lambda sizes: [sizes.judge_train_per_breed] * len(sizes.pool_counts),
    "judge_eval": lambda sizes: [sizes.eval_per_breed] * len(sizes.pool_counts),
    "reference": lambda sizes: list(sizes.pool_counts),
    "pool": lambda sizes: list(sizes.pool_counts),
}
SPLITS = tuple(SPLIT_SIZES)


class Dataset(ABC):
    """A source of real images, grouped by breed."""

    breeds: tuple[str, ...]
    # Rendered on demand (the toy dogs): any number of images, fixed default split sizes, and backgrounds
    # without a dog that the judge's outlier exposure may use. False: photos, counted and used as they are.
    rendered: bool = False
    # Whether draw_splits follows data.seed (a dataset that cannot draw its splits another way refuses it).
    follows_data_seed: bool = False

    def usable_counts(self, breeds: list[int], resolution: int) -> list[int] | None:
        """Usable images of each of ``breeds`` (dataset indices) at ``resolution``, or None when there is no
        limit; split sizes the config leaves out are derived from these counts."""
        return None

    @classmethod
    def check_source(cls, config) -> None:
        """Refuse ``config`` (a DataConfig) before a run starts if its source cannot be there: a cheap look
        at the settings and local folders it names (no image is read, nothing is downloaded)."""

    @abstractmethod
    def draw_splits(self, breeds: list[int], sizes: dict[str, list[int]],
                    resolution: int) -> dict[str, list[torch.Tensor]]:
        """For each split in ``sizes``: one uint8 tensor (count, 3, R, R) per breed of ``breeds`` (dataset
        indices), ``sizes[split][i]`` images of ``breeds[i]``; no image is shared between splits."""

    def identity(self) -> dict[str, Any]:
        """What the images depend on beyond the config (file lists of a dataset on disk); enters cache keys."""
        return {}

    def report(self) -> dict[str, Any]:
        """Facts about the source worth keeping in the run's manifest (files skipped, images per breed)."""
        return {}


DATASETS: Registry[type] = Registry("dataset")


@dataclass(frozen=True)
class RealData:
    breeds: tuple[str, ...]
    splits: dict[str, ImageSet]  # split name (SPLITS) -> images
    reservoir: tuple[ImageSet, ...] = ()  # pool-sized blocks of fresh real images, block j for the j-th fresh draw
    identity: dict[str, Any] = field(default_factory=dict)  # Dataset.identity(), for cache keys
    source: dict[str, Any] = field(default_factory=dict)  # Dataset.report(), for the manifest
    split_sizes: dict[str, Any] = field(default_factory=dict)  # SplitSizes.record(), for the manifest and cache keys
    rendered: bool = False  # Dataset.rendered: toy dogs, not photos

    def __getattr__(self, name: str) -> ImageSet:
        # data.pool, data.judge_train, ...: every split is an attribute without a field of its own.
        splits = self.__dict__.get("splits", {})
        if name in splits:
            return splits[name]
        raise AttributeError(f"RealData has no split or attribute '{name}'; splits: {', '.join(splits)}")

    def realised_counts(self) -> dict[str, dict[str, int]]:
        """Images per breed in each split, as recorded in the manifest."""
        return {name: dict(zip(self.breeds, images.label_counts(len(self.breeds)).tolist()))
                for name, images in self.splits.items()}


def build_real_data(config, reservoir_pools: int = 0) -> RealData:
    """Cut ``config`` (a DataConfig) into the splits of ``SPLIT_SIZES``, plus ``reservoir_pools``
    pool-sized reservoir blocks of fresh real images (regime mix with real_source fresh)."""
    dataset = DATASETS.get(config.name)(config)
    if config.seed is not None and not dataset.follows_data_seed:
        raise ConfigError("data.seed", f"dataset '{config.name}' draws its splits one fixed way; remove data.seed "
                                       "(or run the seeds with --vary generator)")
    order = breed_order(dataset.breeds, config.breeds)
    # Photos are counted (decoded, through their cache) only when a size is left to derive from them.
    usable = dataset.usable_counts(order, config.resolution) if left_to_derive(config) else None
    plan = plan_split_sizes(config, [dataset.breeds[i] for i in order], usable, 2 + reservoir_pools)
    pool_counts = plan.pool_counts
    sizes = {name: size(plan) for name, size in SPLIT_SIZES.items()}
    if reservoir_pools:
        sizes["reservoir"] = [count * reservoir_pools for count in pool_counts]
    drawn = dataset.draw_splits(order, sizes, config.resolution)
    splits = {}
    for name, parts in drawn.items():
        labels = [torch.full((len(part),), label, dtype=torch.int64) for label, part in enumerate(parts)]
        splits[name] = ImageSet.create(torch.cat(parts), torch.cat(labels))
    reservoir = _reservoir_blocks(splits.pop("reservoir", None), pool_counts, reservoir_pools)
    return RealData(breeds=tuple(dataset.breeds[i] for i in order), splits=splits, reservoir=reservoir,
                    identity=dataset.identity(), source=dataset.report(), split_sizes=plan.record(),
                    rendered=dataset.rendered)


def _reservoir_blocks(reservoir: ImageSet | None, pool_counts: list[int], blocks: int) -> tuple[ImageSet, ...]:
    """``blocks`` disjoint pool-sized sets with the pool's breed counts, cut from the reservoir split."""
    if reservoir is None or blocks == 0:
        return ()
    # Breed b's images lie in one run of count_b * blocks; block j takes the j-th count_b of each run.
    starts = torch.tensor([0, *pool_counts[:-1]]).cumsum(0) * blocks
    cut = []
    for block in range(blocks):
        index = [torch.arange(start + block * count, start + (block + 1) * count)
                 for start, count in zip(starts.tolist(), pool_counts)]
        cut.append(reservoir.subset(torch.cat(index)))
    return tuple(cut)


def breed_order(available: tuple[str, ...], wanted: list[str] | None) -> list[int]:
    """Indices into the dataset's breeds, in the order the config asks for."""
    if wanted is None:
        return list(range(len(available)))
    unknown = [b for b in wanted if b not in available]
    if unknown:
        raise ConfigError("data.breeds", f"unknown breed '{unknown[0]}'; available: {', '.join(available)}")
    if len(set(wanted)) != len(wanted):
        raise ConfigError("data.breeds", "lists a breed twice")
    if not wanted:
        raise ConfigError("data.breeds", "must name at least one breed (or be omitted for all)")
    return [available.index(b) for b in wanted]
