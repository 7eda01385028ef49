"""The neutral null in numbers: haploid Wright-Fisher drift of breed shares.

A generator that only resamples its training pool (N images, with replacement)
changes breed shares by chance alone. A breed (or any group of breeds) at share p
in generation 0 then has, at generation t,

    E[p_t] = p,    Var[p_t] = p (1 - p) (1 - (1 - 1/N)^t),

exactly (not a diffusion approximation): conditional on p_{t-1}, N p_t is
Binomial(N, p_{t-1}), and the law of total variance gives the recursion
V_t = V_{t-1} (1 - 1/N) + p (1 - p) / N. The variance grows from 0 to p (1 - p),
the variance of a breed that is either fixed or lost.
"""

from __future__ import annotations

import numpy as np


def drift_variance(p: np.ndarray | float, population: int, generations: np.ndarray | int) -> np.ndarray:
    """Var[p_t] under neutral drift; broadcasts over shares ``p`` and ``generations`` t."""
    if population < 1:
        raise ValueError(f"population must be >= 1, got {population}")
    p = np.asarray(p, dtype=np.float64)
    t = np.asarray(generations, dtype=np.float64)
    return p * (1 - p) * (1 - (1 - 1 / population) ** t)


def drift_band(p: np.ndarray | float, population: int, generations: np.ndarray | int,
               width: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """(low, high): E[p_t] -/+ ``width`` standard deviations, clipped to [0, 1]."""
    p = np.asarray(p, dtype=np.float64)
    spread = width * np.sqrt(drift_variance(p, population, generations))
    return np.clip(p - spread, 0.0, 1.0), np.clip(p + spread, 0.0, 1.0)


def expected_heterozygosity(h0: float, population: int, generations: np.ndarray | int) -> np.ndarray:
    """E[H_t] = H_0 (1 - 1/N)^t for H = 1 - sum of squared shares."""
    return h0 * (1 - 1 / population) ** np.asarray(generations, dtype=np.float64)
