"""Regimes: how the next generation's training pool is composed.

A regime is a function of the real generation-0 pool and every generation's samples
so far; it is pure (its randomness comes from the seeds in its PoolHistory), so a
resumed run rebuilds the same pool from what is on disk instead of storing each pool.

- ``replace``: the previous generation's samples, only (fully synthetic);
- ``mix``: pools as large as the real pool, a fraction ``loop.real_fraction`` (or the
  ``loop.real_fraction_schedule`` entry of the generation) real; ``loop.real_source``
  fixed reuses the same real images every generation, fresh takes new ones from a
  reservoir of real images, a pool-sized block per generation;
- ``accumulate``: the real pool and every earlier generation's samples;
- ``accumulate-subsample``: accumulate, then a random subset as large as the real pool.

Generation 1 learns the real pool under every regime. Filters (``imagelab.filters``)
act on each generation's samples before they join a pool, or on the composed pool.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import torch

from imagelab.data.imageset import REAL, ImageSet
from imagelab.errors import ConfigError
from imagelab.pools.filters import FILTERS, POOL, FilterSettings, Verdicts
from imagelab.registry import Registry
from imagelab.seeding import derive_seed, torch_generator


@dataclass(frozen=True)
class PoolHistory:
    real_pool: ImageSet  # generation 0
    samples: list[ImageSet]  # samples[k] was drawn by generation k + 1
    real_fraction: float  # regime mix: the real share of this pool
    seed: int  # this pool's own randomness
    verdicts: list[Verdicts] = field(default_factory=list)  # verdicts[k]: the judge on samples[k]
    real_source: str = "fixed"  # regime mix: fixed or fresh
    reservoir: tuple[ImageSet, ...] = ()  # regime mix, fresh: block j serves the pool of generation j + 2
    run_seed: int = 0  # randomness shared by all pools of a run: the fixed real images, each sample set's filtering
    filter: str = "none"
    filter_settings: FilterSettings | None = None

    @property
    def generation(self) -> int:
        """The generation that will learn this pool."""
        return len(self.samples) + 1


Regime = Callable[[PoolHistory], ImageSet]
REGIMES: Registry[Regime] = Registry("regime")


@REGIMES.register("replace")
def replace(history: PoolHistory) -> ImageSet:
    """Fully synthetic: each generation learns only the previous generation's samples."""
    return history.samples[-1] if history.samples else history.real_pool


@REGIMES.register("mix")
def mix(history: PoolHistory) -> ImageSet:
    """A pool of the real pool's size N: round(f N) real images and the rest the latest samples.

    When a filter left fewer synthetic images than the pool needs, the real part shrinks
    with them, so the pool keeps its real fraction.
    """
    if not history.samples:
        return history.real_pool
    latest, fraction, size = history.samples[-1], history.real_fraction, len(history.real_pool)
    real_count = round(fraction * size)
    synthetic_count = size - real_count
    if len(latest) < synthetic_count:
        synthetic_count = len(latest)
        real_count = round(synthetic_count * fraction / (1.0 - fraction))
    order = torch.randperm(len(latest), generator=torch_generator(derive_seed(history.seed, "synthetic")))
    return ImageSet.concat([real_images(history, real_count), latest.subset(order[:synthetic_count])])


@REGIMES.register("accumulate")
def accumulate(history: PoolHistory) -> ImageSet:
    """All data so far: the real pool and every earlier generation's samples."""
    return ImageSet.concat([history.real_pool, *history.samples])


@REGIMES.register("accumulate-subsample")
def accumulate_subsample(history: PoolHistory) -> ImageSet:
    """A random subset of all data so far, as large as the real pool."""
    everything = accumulate(history)
    size = len(history.real_pool)
    if len(everything) <= size:
        return everything
    order = torch.randperm(len(everything), generator=torch_generator(derive_seed(history.seed, "subsample")))
    return everything.subset(order[:size])


def real_images(history: PoolHistory, count: int) -> ImageSet:
    """``count`` real images for the pool of ``history.generation``.

    fixed: the first ``count`` of one shuffle of the real pool, the same for every
    generation (so a pool reuses the images of the last, and a smaller fraction takes
    a subset of them); fresh: the first ``count`` of a shuffle of the generation's own
    reservoir block, never seen by any other generation.
    """
    if history.real_source == "fixed":
        source, salt = history.real_pool, "fixed real order"
    else:
        block = history.generation - 2
        if block >= len(history.reservoir):
            raise ValueError(f"no reservoir block for generation {history.generation}; build the real data with "
                             f"reservoir_pools=reservoir_pools(loop config)")
        source, salt = history.reservoir[block], f"fresh real order {history.generation}"
    if count > len(source):
        raise ConfigError("loop.real_fraction", f"asks for {count} real images in generation {history.generation}'s pool "
                                                f"but only {len(source)} are available; lower it or loop.samples_per_generation")
    order = torch.randperm(len(source), generator=torch_generator(derive_seed(history.run_seed, salt)))
    return source.subset(order[:count])


# --- composing a pool: filters around the regime ---------------------------------------------


def next_pool(regime: str, history: PoolHistory) -> ImageSet:
    """The pool of ``history.generation``: sample filters, then the regime, then a pool filter."""
    chosen = FILTERS.get(history.filter)
    settings = history.filter_settings
    if history.filter == "none":
        return REGIMES.get(regime)(history)
    if chosen.stage != POOL and history.samples:
        kept = []
        for k, (samples, verdicts) in enumerate(zip(history.samples, history.verdicts, strict=True)):
            # Each sample set is filtered with its own seed: the same images whichever later pool it joins.
            generator = torch_generator(derive_seed(history.run_seed, "filter", k + 1))
            kept.append(samples.subset(chosen.select(samples, verdicts, settings, generator)))
        history = dataclasses.replace(history, samples=kept)
    pool = REGIMES.get(regime)(history)
    if chosen.stage == POOL and history.samples:
        generator = torch_generator(derive_seed(history.seed, "filter"))
        pool = pool.subset(chosen.select(pool, None, settings, generator))
    if len(pool) == 0:
        raise ConfigError("loop.filter", f"'{history.filter}' left the pool of generation {history.generation} empty; "
                                         "loosen the filter (loop.filter_threshold, loop.detector_*) or use another")
    return pool


def compose_pool(loop, real_pool: ImageSet, reservoir: tuple[ImageSet, ...], samples: list[ImageSet],
                 verdicts: list[Verdicts], run_seed: int, num_breeds: int) -> ImageSet:
    """The pool of generation ``len(samples) + 1`` as ``loop`` (a LoopConfig) asks for it."""
    generation = len(samples) + 1
    counts = real_pool.label_counts(num_breeds).double()
    settings = FilterSettings(threshold=loop.filter_threshold, recall=loop.detector_recall,
                              false_positive_rate=loop.detector_false_positive_rate,
                              target_shares=counts / counts.sum())
    history = PoolHistory(real_pool, samples, real_fraction_of(loop, generation), derive_seed(run_seed, "pool", generation),
                          verdicts=verdicts, real_source=loop.real_source, reservoir=reservoir, run_seed=run_seed,
                          filter=loop.filter, filter_settings=settings)
    return next_pool(loop.regime, history)


def real_fraction_of(loop, generation: int) -> float:
    """The real fraction of generation ``generation``'s pool (1 for generation 1, which learns the real pool)."""
    if generation <= 1:
        return 1.0
    schedule = loop.real_fraction_schedule
    if schedule is None:
        return loop.real_fraction
    return schedule[min(generation - 2, len(schedule) - 1)]


def reservoir_pools(loop) -> int:
    """Pool-sized blocks of fresh real data the loop needs: one per generation from 2 on, or none."""
    fresh = loop.regime == "mix" and loop.real_source == "fresh"
    return max(loop.generations - 1, 0) if fresh else 0


def pool_composition(pool: ImageSet) -> dict[str, float]:
    """The metrics columns that describe a training pool."""
    real = int((pool.provenance == REAL).sum())
    return {"pool_size": len(pool), "pool_real_share": real / len(pool) if len(pool) else 0.0}


def check_loop_config(loop) -> None:
    """The loop keys that depend on each other (called by the config parser)."""
    try:
        FILTERS.get(loop.filter)
    except LookupError as error:
        raise ConfigError("loop.filter", str(error)) from None
    schedule = loop.real_fraction_schedule
    if loop.regime != "mix":
        for key, used in (("real_fraction", loop.real_fraction != 0), ("real_fraction_schedule", schedule is not None),
                          ("real_source", loop.real_source != "fixed")):
            if used:
                raise ConfigError(f"loop.{key}", f"is only used by regime mix (regime is '{loop.regime}'); "
                                                 "remove it or set loop.regime=mix")
    if schedule is None:
        return
    if loop.real_fraction != 0:
        raise ConfigError("loop.real_fraction_schedule", "give either loop.real_fraction or a schedule, not both")
    if not schedule:
        raise ConfigError("loop.real_fraction_schedule", "must list at least one fraction (for generation 2), or be omitted")
    for position, fraction in enumerate(schedule):
        if not 0.0 <= fraction <= 1.0:
            raise ConfigError(f"loop.real_fraction_schedule[{position}]", f"must be between 0 and 1, got {fraction!r}")
    mixed = max(loop.generations - 1, 0)
    if len(schedule) > mixed:
        raise ConfigError("loop.real_fraction_schedule", f"lists {len(schedule)} fractions but only {mixed} pools are mixed "
                                                         "(generations 2 and later); shorten it")
