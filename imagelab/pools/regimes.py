"""Regimes: how the next generation's training pool is composed.

A regime is a class registered in ``REGIMES`` (built in with ``@REGIMES.register("name")``,
from the entry-point group ``imagelab.regimes``, or as ``loop.regime=package.module:Class``).
It brings its settings as a ``Config`` dataclass, read from the ``regime`` section of the
run config, and composes a pool from a PoolHistory: the real generation-0 pool and every
generation's samples so far. It is pure (its randomness comes from the seeds in the
history), so a resumed run rebuilds the same pool from what is on disk instead of
storing each pool. A regime that needs fresh real images says how many pool-sized
blocks of them (``reservoir_blocks``); the real data is then cut with that reservoir.

- ``replace``: the previous generation's samples, only (fully synthetic);
- ``mix``: pools as large as the real pool, a fraction ``regime.real_fraction`` (or the
  ``regime.real_fraction_schedule`` entry of the generation) real; ``regime.real_source``
  fixed reuses the same real images every generation, fresh takes new ones from a
  reservoir of real images, a pool-sized block per generation;
- ``accumulate``: the real pool and every earlier generation's samples;
- ``accumulate-subsample``: accumulate, then a random subset as large as the real pool.

Generation 1 learns the real pool under every regime. Filters (``imagelab.pools.filters``)
act on each generation's samples before they join a pool, or on the composed pool;
``compose_pool`` puts the two together.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from imagelab.config_fields import bounded
from imagelab.data.imageset import REAL, ImageSet
from imagelab.errors import ConfigError
from imagelab.judge.judgement import Judgement
from imagelab.pools.filters import FILTERS, POOL, Filter
from imagelab.registry import Registry, first_docstring_line
from imagelab.seeding import derive_seed, torch_generator


@dataclass(frozen=True)
class PoolHistory:
    """What a pool may be composed of: the real data and every generation's samples so far."""

    real_pool: ImageSet  # generation 0
    samples: list[ImageSet]  # samples[k] was drawn by generation k + 1
    seed: int  # this pool's own randomness
    # Randomness shared by all pools of a run: the fixed real images, each sample set's filtering.
    run_seed: int = 0
    judgements: list[Judgement] = field(default_factory=list)  # judgements[k]: the judge on samples[k]
    reservoir: tuple[ImageSet, ...] = ()  # fresh real data: block j serves the pool of generation j + 2
    num_breeds: int | None = None  # breeds of the data; None: the real pool's largest label + 1

    @property
    def generation(self) -> int:
        """The generation that will learn this pool."""
        return len(self.samples) + 1

    def real_shares(self) -> torch.Tensor:
        """(C,) float64 breed proportions of the real pool, summing to 1."""
        breeds = self.num_breeds if self.num_breeds is not None else int(self.real_pool.labels.max()) + 1
        counts = self.real_pool.label_counts(breeds).double()
        return counts / counts.sum()


@dataclass
class RegimeConfig:
    """The ``regime`` section of the run config; a regime with settings derives its ``Config`` from it."""


class Regime(ABC):
    """Composes the pool of the next generation; built from its Config."""

    Config: ClassVar[type[RegimeConfig]] = RegimeConfig

    def __init__(self, config: RegimeConfig) -> None:
        self.config = config

    @abstractmethod
    def compose(self, history: PoolHistory) -> ImageSet:
        """The pool of ``history.generation`` (generation 1: the real pool)."""

    def reservoir_blocks(self, generations: int) -> int:
        """Pool-sized blocks of fresh real images a loop of ``generations`` needs (none by default)."""
        return 0

    def check(self, generations: int) -> None:
        """Refuse settings that cannot serve a loop of ``generations`` (ConfigError naming the key)."""

    @classmethod
    def describe(cls) -> str:
        """One line: the first of the class docstring."""
        return first_docstring_line(cls)


REGIMES: Registry[type[Regime]] = Registry("regime", entry_point_group="imagelab.regimes")


@REGIMES.register("replace")
class Replace(Regime):
    """Fully synthetic: each generation learns only the previous generation's samples."""

    def compose(self, history: PoolHistory) -> ImageSet:
        return history.samples[-1] if history.samples else history.real_pool


@dataclass
class MixConfig(RegimeConfig):
    real_fraction: float = bounded(0.0, ge=0.0, le=1.0)  # the real share of each pool
    # The real fraction of the pools of generations 2, 3, ... (generation 1 always learns the real pool);
    # the last value holds for later generations. None: real_fraction for every generation.
    real_fraction_schedule: list[float] | None = bounded(None, ge=0.0, le=1.0)
    # fixed reuses the same real images every generation; fresh draws new ones each generation from a real
    # reservoir, disjoint from every other split (built only when needed).
    real_source: str = bounded("fixed", choices=("fixed", "fresh"))

    def __post_init__(self) -> None:
        if self.real_fraction_schedule is None:
            return
        if self.real_fraction != 0:
            raise ConfigError("regime.real_fraction_schedule",
                              "give either regime.real_fraction or a schedule, not both")
        if not self.real_fraction_schedule:
            raise ConfigError("regime.real_fraction_schedule",
                              "must list at least one fraction (for generation 2), or be omitted")


@REGIMES.register("mix")
class Mix(Regime):
    """A pool of the real pool's size N: round(f N) real images and the rest the latest samples.

    When a filter left fewer synthetic images than the pool needs, the real part shrinks
    with them, so the pool keeps its real fraction.
    """

    Config = MixConfig

    def compose(self, history: PoolHistory) -> ImageSet:
        if not history.samples:
            return history.real_pool
        latest, size = history.samples[-1], len(history.real_pool)
        fraction = self.real_fraction(history.generation)
        real_count = round(fraction * size)
        synthetic_count = size - real_count
        if len(latest) < synthetic_count:
            synthetic_count = len(latest)
            real_count = round(synthetic_count * fraction / (1.0 - fraction))
        order = torch.randperm(len(latest), generator=torch_generator(derive_seed(history.seed, "synthetic")))
        synthetic = latest.subset(order[:synthetic_count])
        return ImageSet.concat([self.real_images(history, real_count), synthetic])

    def real_fraction(self, generation: int) -> float:
        """The real fraction of ``generation``'s pool (1 for generation 1, which learns the real pool)."""
        if generation <= 1:
            return 1.0
        schedule = self.config.real_fraction_schedule
        if schedule is None:
            return self.config.real_fraction
        return schedule[min(generation - 2, len(schedule) - 1)]

    def real_images(self, history: PoolHistory, count: int) -> ImageSet:
        """``count`` real images for the pool of ``history.generation``.

        fixed: the first ``count`` of one shuffle of the real pool, the same for every
        generation (so a pool reuses the images of the last, and a smaller fraction takes
        a subset of them); fresh: the first ``count`` of a shuffle of the generation's own
        reservoir block, never seen by any other generation.
        """
        if self.config.real_source == "fixed":
            source, salt = history.real_pool, "fixed real order"
        else:
            block = history.generation - 2
            if block >= len(history.reservoir):
                raise ValueError(f"no reservoir block for generation {history.generation}; build the real "
                                 "data with reservoir_pools(config) blocks")
            source, salt = history.reservoir[block], f"fresh real order {history.generation}"
        if count > len(source):
            raise ConfigError("regime.real_fraction",
                              f"asks for {count} real images in generation {history.generation}'s pool but "
                              f"only {len(source)} are available; lower it or loop.samples_per_generation")
        order = torch.randperm(len(source), generator=torch_generator(derive_seed(history.run_seed, salt)))
        return source.subset(order[:count])

    def reservoir_blocks(self, generations: int) -> int:
        """One block per generation from 2 on when the real images are fresh."""
        return max(generations - 1, 0) if self.config.real_source == "fresh" else 0

    def check(self, generations: int) -> None:
        schedule, mixed = self.config.real_fraction_schedule, max(generations - 1, 0)
        if schedule is not None and len(schedule) > mixed:
            raise ConfigError("regime.real_fraction_schedule",
                              f"lists {len(schedule)} fractions but only {mixed} pools are mixed "
                              "(generations 2 and later); shorten it")


@REGIMES.register("accumulate")
class Accumulate(Regime):
    """All data so far: the real pool and every earlier generation's samples."""

    def compose(self, history: PoolHistory) -> ImageSet:
        return ImageSet.concat([history.real_pool, *history.samples])


@REGIMES.register("accumulate-subsample")
class AccumulateSubsample(Accumulate):
    """A random subset of all data so far, as large as the real pool."""

    def compose(self, history: PoolHistory) -> ImageSet:
        everything = super().compose(history)
        size = len(history.real_pool)
        if len(everything) <= size:
            return everything
        generator = torch_generator(derive_seed(history.seed, "subsample"))
        order = torch.randperm(len(everything), generator=generator)
        return everything.subset(order[:size])


# --- composing a pool: filters around the regime ---------------------------------------------


def next_pool(regime: Regime, chosen: Filter, history: PoolHistory) -> ImageSet:
    """The pool of ``history.generation``: a samples filter on each set, the regime, then a pool filter."""
    real_shares = history.real_shares()
    if chosen.stage != POOL and history.samples:
        kept = []
        for k, (samples, judgement) in enumerate(zip(history.samples, history.judgements, strict=True)):
            # Each sample set is filtered with its own seed: the same images whichever later pool it joins.
            generator = torch_generator(derive_seed(history.run_seed, "filter", k + 1))
            kept_indices = chosen.select(samples, judgement, real_shares=real_shares, generator=generator)
            kept.append(_keep(samples, kept_indices))
        history = dataclasses.replace(history, samples=kept)
    pool = regime.compose(history)
    if chosen.stage == POOL and history.samples:
        generator = torch_generator(derive_seed(history.seed, "filter"))
        pool = _keep(pool, chosen.select(pool, None, real_shares=real_shares, generator=generator))
    return pool


def _keep(images: ImageSet, indices: torch.Tensor) -> ImageSet:
    """``images`` at ``indices``; a selection of every image in order is the set itself (no copy)."""
    if len(indices) == len(images) and torch.equal(indices.cpu(), torch.arange(len(images))):
        return images
    return images.subset(indices)


def compose_pool(config: Any, real_pool: ImageSet, reservoir: tuple[ImageSet, ...], samples: list[ImageSet],
                 judgements: list[Judgement], num_breeds: int) -> ImageSet:
    """The pool of generation ``len(samples) + 1`` as ``config`` (a RunConfig) asks for it."""
    generation = len(samples) + 1
    history = PoolHistory(real_pool, samples, derive_seed(config.seed, "pool", generation),
                          run_seed=config.seed, judgements=judgements, reservoir=reservoir,
                          num_breeds=num_breeds)
    pool = next_pool(build_regime(config), build_filter(config), history)
    if len(pool) == 0:
        raise ConfigError("loop.filter", f"'{config.loop.filter}' left the pool of generation {generation} "
                                         "empty; loosen its settings (filter.*) or use another")
    return pool


def build_regime(config: Any) -> Regime:
    """The regime ``config`` (a RunConfig) names in ``loop.regime``, with its ``regime`` section."""
    return REGIMES.get(config.loop.regime)(config.regime)


def build_filter(config: Any) -> Filter:
    """The filter ``config`` (a RunConfig) names in ``loop.filter``, with its ``filter`` section."""
    return FILTERS.get(config.loop.filter)(config.filter)


def reservoir_pools(config: Any) -> int:
    """Pool-sized blocks of fresh real data the loop of ``config`` (a RunConfig) needs: as its regime says."""
    return build_regime(config).reservoir_blocks(config.loop.generations)


def pool_composition(pool: ImageSet) -> dict[str, float]:
    """The metrics columns that describe a training pool."""
    real = int((pool.provenance == REAL).sum())
    return {"pool_size": len(pool), "pool_real_share": real / len(pool) if len(pool) else 0.0}
