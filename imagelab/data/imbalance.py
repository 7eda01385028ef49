"""Long-tail profiles: how many images each breed gets in the generation-0 pool.

Breed 0 is the most common; counts never increase along the breed order.
"""

from __future__ import annotations

import math

from imagelab.errors import ConfigError


def breed_counts(profile: str, num_breeds: int, *, max_count: int, ratio: float = 100.0,
                 minority_fraction: float = 0.5, counts: list[int] | None = None) -> list[int]:
    """Images per breed for ``profile``; every count is at least 1 unless given explicitly."""
    if num_breeds < 1:
        raise ConfigError("data.breeds", "at least one breed is needed")
    last = max(num_breeds - 1, 1)
    if profile == "none":
        return [max_count] * num_breeds
    if profile == "exponential":
        # n_i = n_max * ratio^(-i/(C-1)): the long-tailed CIFAR convention (Cui et al. 2019).
        return [max(1, round(max_count * ratio ** (-i / last))) for i in range(num_breeds)]
    if profile == "zipf":
        # n_i = n_max * (i+1)^(-a), with a such that n_0 / n_{C-1} = ratio.
        exponent = math.log(ratio) / math.log(num_breeds) if num_breeds > 1 else 0.0
        return [max(1, round(max_count * (i + 1) ** (-exponent))) for i in range(num_breeds)]
    if profile == "step":
        # Buda et al. 2018: a majority at n_max and a minority (the last breeds) at n_max / ratio.
        minority = round(minority_fraction * num_breeds)
        low = max(1, round(max_count / ratio))
        return [max_count] * (num_breeds - minority) + [low] * minority
    if profile == "counts":
        if counts is None or len(counts) != num_breeds:
            got = "none" if counts is None else f"{len(counts)}"
            raise ConfigError("data.imbalance.counts", f"needs one count per breed ({num_breeds}), got {got}")
        return list(counts)
    raise ConfigError("data.imbalance.profile",
                      f"unknown profile '{profile}'; available: exponential, zipf, step, counts, none")
