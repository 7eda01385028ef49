"""Regimes: how the next generation's training pool is composed.

A regime is a function of the real generation-0 pool and every generation's samples
so far; it is pure (its randomness comes from the seed it is given), so a resumed
run rebuilds the same pool from what is on disk instead of storing each pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from imagelab.data.imageset import ImageSet
from imagelab.registry import Registry


@dataclass(frozen=True)
class PoolHistory:
    real_pool: ImageSet  # generation 0
    samples: list[ImageSet]  # samples[k] was drawn by generation k + 1
    real_fraction: float
    seed: int


Regime = Callable[[PoolHistory], ImageSet]
REGIMES: Registry[Regime] = Registry("regime")


@REGIMES.register("replace")
def replace(history: PoolHistory) -> ImageSet:
    """Fully synthetic: each generation learns only the previous generation's samples."""
    return history.samples[-1] if history.samples else history.real_pool
