"""Intervals over seeds that respect what a column can be: bootstrap percentile, clamped to its range.

A Student-t interval over 3 seeds is symmetric and wide, so it gives impossible bounds
(a negative share; ``breeds_alive`` above the number of breeds). Here the interval of a
mean over seeds is the percentile bootstrap: the 2.5% and 97.5% quantiles of the means
of ``RESAMPLES`` resamples of the seeds' values (with replacement, from a fixed seed,
so the same values always give the same interval). Its bounds lie between the smallest
and the largest seed value, hence inside the column's range; they are clamped to that
range as well (``column_range``), which matters only for a column with no stated range.

With few seeds the percentile bootstrap is too narrow (3 seeds have only 10 distinct
resamples): it says how far the seeds spread, not a calibrated 95%. Tables over fewer
than ``FEW_SEEDS`` seeds therefore list every seed's value too.

A paired difference (two settings run with the same seeds) is the per-seed difference
B - A; its interval is the same bootstrap over those differences.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np

from imagelab.metrics.metric import Column

CONFIDENCE = 0.95
RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
FEW_SEEDS = 5  # below this many seeds, tables list each seed's value beside the interval
INTERVAL_METHOD = (f"{CONFIDENCE:.0%} percentile bootstrap of the mean over seeds ({RESAMPLES:,} resamples, "
                   f"seed {BOOTSTRAP_SEED}), clamped to each column's range; with fewer than {FEW_SEEDS} seeds "
                   "it shows their spread, not a calibrated interval, and every seed's value is listed")
UNBOUNDED = (-math.inf, math.inf)


@lru_cache(maxsize=64)
def _resample_indices(n: int) -> np.ndarray:
    """(RESAMPLES, n) indices drawn with replacement from a fixed seed: the same for every column of n values."""
    return np.random.default_rng(BOOTSTRAP_SEED).integers(0, n, size=(RESAMPLES, n))


def bootstrap_interval(values: Sequence[float], bounds: tuple[float, float] = UNBOUNDED) -> tuple[float, float, float]:
    """(mean, low, high): the mean of ``values`` and its percentile-bootstrap interval within ``bounds``.

    NaN bounds for a single value (nothing to resample); NaN everywhere for none.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(data.mean())
    if data.size == 1:
        return mean, math.nan, math.nan
    means = data[_resample_indices(data.size)].mean(axis=1)  # (RESAMPLES,)
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    lowest, highest = bounds
    return mean, float(min(max(low, lowest), highest)), float(min(max(high, lowest), highest))


def column_range(column: Column | None, name: str, num_breeds: int) -> tuple[float, float]:
    """What values ``name`` can take: shares in [0, 1], breeds_alive in [0, breeds], counts >= 0, else any."""
    if name == "breeds_alive":
        return 0.0, float(num_breeds)
    style = column.style if column is not None else None
    if style == "percent" or name.startswith("share_"):
        return 0.0, 1.0
    if style == "count" or name in ("samples", "fid"):
        return 0.0, math.inf
    return UNBOUNDED


def difference_range(bounds: tuple[float, float]) -> tuple[float, float]:
    """The range of B - A when A and B each lie in ``bounds``."""
    low, high = bounds
    return low - high, high - low


def paired_differences(first: dict[int, float], second: dict[int, float],
                       bounds: tuple[float, float] = UNBOUNDED) -> dict[str, object]:
    """B - A per seed shared by ``first`` (A) and ``second`` (B), each a seed -> value map, and their mean with
    its bootstrap interval: {"seeds": [...], "differences": [...], "mean", "low", "high"}."""
    seeds = [seed for seed in first if seed in second
             and all(math.isfinite(v) for v in (first[seed], second[seed]))]
    differences = [second[seed] - first[seed] for seed in seeds]
    mean, low, high = bootstrap_interval(differences, difference_range(bounds))
    return {"seeds": seeds, "differences": differences, "mean": mean, "low": low, "high": high}


def seed_values_text(values: Sequence[float]) -> str:
    """Each seed's value, in seed order, for a CSV cell: ``0.12;0.1;nan``."""
    return ";".join("nan" if not math.isfinite(v) else f"{v:.6g}" for v in values)
