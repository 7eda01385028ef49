"""What the resampling null does to the number of distinct images: the reference band for ``distinct``.

A generator that only resamples its pool (``resample``: N draws with replacement, every
generation) loses distinct images by chance alone: each real image is a lineage, and a
lineage survives to generation t while some copy of it is drawn every time. After one
generation of N draws from N images about 1 - 1/e = 63% of them remain; after ten,
about 15%. A generator whose ``distinct`` falls that fast has lost no more variety than
drift does; one that falls faster copies more than drift.

The band is simulated, not approximated: ``REPLICATES`` independent copies of the chain
(a fixed seed, so a report always draws the same band), each following the real pool's
lineages through the same draws the loop makes: ``population`` draws from the pool at
generation 1, then ``population`` from the previous ``population`` samples. Every lineage
starts as one image: the real pool's near-copies (its ``distinct`` is a little below its
size) are counted as lineages that are not tracked, which makes the band a little low,
by at most the pool's near-copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REPLICATES = 1_000
SEED = 0
BAND = (0.025, 0.975)  # quantiles: a 95% band


@dataclass(frozen=True)
class DistinctBand:
    """Per generation 0..T: the null's median number of surviving lineages and its 95% band."""

    median: np.ndarray  # (T + 1,)
    low: np.ndarray
    high: np.ndarray


def distinct_null_bands(lineages: dict[str, int], pool: int, population: int,
                        generations: int) -> dict[str, DistinctBand]:
    """The band of each group in ``lineages`` (name -> its number of distinct images at generation 0; e.g. one
    entry per breed, and one for all) under the resampling null of a ``pool``-image pool resampled to
    ``population`` images each generation. Groups are disjoint except that a group named "all" may
    hold the others; together the others may not exceed ``pool``."""
    parts = {name: count for name, count in lineages.items() if name != "all"}
    if any(count < 0 for count in lineages.values()) or sum(parts.values()) > pool:
        raise ValueError(f"lineages {lineages} do not fit in a pool of {pool} images")
    if "all" in lineages and lineages["all"] > pool:
        raise ValueError(f"{lineages['all']} distinct images cannot come from a pool of {pool}")
    names = list(lineages)
    # Each group is a range of pool images: the breeds one after another, "all" from the first image on.
    ranges, start = [], 0
    for name in names:
        if name == "all":
            ranges.append((0, lineages[name]))
        else:
            ranges.append((start, start + parts[name]))
            start += parts[name]
    first, last = (np.array(bound) for bound in zip(*ranges))
    rng = np.random.default_rng(SEED)
    counts = np.empty((REPLICATES, generations + 1, len(names)))
    counts[:, 0] = last - first
    ancestors = np.broadcast_to(np.arange(pool), (REPLICATES, pool))  # each replicate's lineage of each image
    rows = np.arange(REPLICATES)[:, None]
    for generation in range(1, generations + 1):
        draws = rng.integers(0, ancestors.shape[1], (REPLICATES, population))
        ancestors = np.take_along_axis(ancestors, draws, axis=1)
        alive = np.zeros((REPLICATES, pool + 1), dtype=np.int32)
        alive[rows, ancestors + 1] = 1
        surviving = np.cumsum(alive, axis=1)  # [:, i]: lineages among the first i pool images still drawn
        counts[:, generation] = surviving[:, last] - surviving[:, first]
    low, median, high = np.quantile(counts, [BAND[0], 0.5, BAND[1]], axis=0)
    return {name: DistinctBand(median[:, column], low[:, column], high[:, column])
            for column, name in enumerate(names)}
