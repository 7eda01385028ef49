"""The real data of a run: one dataset cut into disjoint splits.

- ``pool``: the class-imbalanced generation-0 training pool;
- ``judge_train``: a balanced split the judge learns from;
- ``judge_eval``: a balanced held-out split for the judge's accuracy;
- ``reference``: held-out images with the pool's breed proportions and size, the
  real side of FID (so generation 0's FID is the real-vs-real noise floor);
- ``reservoir``: only when a loop draws fresh real data each generation: blocks of
  new real images, each with the pool's breed counts, one block per generation that
  needs them.

The splits depend only on the data config, never on the run seed: runs with other
seeds share the same real data and the same (cached) judge.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from imagelab.data.imageset import ImageSet
from imagelab.data.imbalance import breed_counts
from imagelab.errors import ConfigError
from imagelab.registry import Registry

SPLITS = ("judge_train", "judge_eval", "reference", "pool", "reservoir")


class Dataset(ABC):
    """A source of real images, grouped by breed."""

    breeds: tuple[str, ...]

    @abstractmethod
    def draw(self, split: str, breed: int, count: int, resolution: int) -> torch.Tensor:
        """``count`` uint8 images (count, 3, R, R) of ``breed``, never shared with another split."""


DATASETS: Registry[type] = Registry("dataset")


@dataclass(frozen=True)
class RealData:
    breeds: tuple[str, ...]
    pool: ImageSet
    judge_train: ImageSet
    judge_eval: ImageSet
    reference: ImageSet
    reservoir: tuple[ImageSet, ...] = ()  # pool-sized blocks of fresh real images, block j for the j-th fresh draw


def build_real_data(config, reservoir_pools: int = 0) -> RealData:
    """Cut ``config.data`` (a DataConfig) into the splits, with ``reservoir_pools`` reservoir blocks."""
    dataset = DATASETS.get(config.name)(config)
    order = _breed_order(dataset.breeds, config.breeds)
    imbalance = config.imbalance
    pool_counts = breed_counts(imbalance.profile, len(order), max_count=imbalance.max_count, ratio=imbalance.ratio,
                               minority_fraction=imbalance.minority_fraction, counts=imbalance.counts)
    balanced = {"judge_train": config.judge_train_per_breed, "judge_eval": config.eval_per_breed}

    def split(name: str, counts: list[int]) -> ImageSet:
        parts, labels = [], []
        for label, (source_index, count) in enumerate(zip(order, counts)):
            parts.append(dataset.draw(name, source_index, count, config.resolution))
            labels.append(torch.full((count,), label, dtype=torch.int64))
        return ImageSet.create(torch.cat(parts), torch.cat(labels))

    sets = {name: split(name, [n] * len(order)) for name, n in balanced.items()}
    return RealData(
        breeds=tuple(dataset.breeds[i] for i in order),
        pool=split("pool", pool_counts),
        reference=split("reference", pool_counts),
        reservoir=_reservoir_blocks(split, pool_counts, reservoir_pools),
        **sets,
    )


def _reservoir_blocks(split, pool_counts: list[int], blocks: int) -> tuple[ImageSet, ...]:
    """``blocks`` disjoint pool-sized sets with the pool's breed counts, cut from one reservoir draw."""
    if blocks == 0:
        return ()
    reservoir = split("reservoir", [count * blocks for count in pool_counts])
    # Breed b's images lie in one run of count_b * blocks; block j takes the j-th count_b of each run.
    starts = torch.tensor([0, *pool_counts[:-1]]).cumsum(0) * blocks
    cut = []
    for block in range(blocks):
        index = [torch.arange(start + block * count, start + (block + 1) * count)
                 for start, count in zip(starts.tolist(), pool_counts)]
        cut.append(reservoir.subset(torch.cat(index)))
    return tuple(cut)


def _breed_order(available: tuple[str, ...], wanted: list[str] | None) -> list[int]:
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
