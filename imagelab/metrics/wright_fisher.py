"""The exact Wright–Fisher chain: survival and loss of a breed under neutral resampling.

A generator that resamples its N training images with replacement (the ``resample``
generator) turns a breed's count k into Binomial(N, k/N) each generation: a Markov
chain on 0..N whose (N + 1) x (N + 1) transition matrix is
P[i, j] = C(N, j) (i/N)^j (1 - i/N)^(N - j). States 0 (lost) and N (fixed) absorb.
From it, exactly and without the diffusion approximation:

- the distribution of the count after t generations, so the probability that a
  breed with k of N images still exists (``survival_probability``);
- the probability of eventual loss, 1 - k/N (the chain is a martingale);
- the mean number of generations to loss, given loss (``mean_time_to_loss``),
  which the diffusion approximation puts at -2N p ln p / (1 - p) for p = k/N
  (Kimura and Ohta 1969, haploid form; ``diffusion_time_to_loss``).

The expected heterozygosity H = 1 - sum p² decays as H_0 (1 - 1/N)^t
(``imagelab.metrics.theory.expected_heterozygosity``). The matrix has (N + 1)²
entries: exact answers are for N up to a few thousand (the default pool's 2,480
is a 50 MB matrix).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.stats import binom


@lru_cache(maxsize=4)
def transition_matrix(population: int) -> np.ndarray:
    """(N + 1, N + 1): row i is the distribution of next generation's count given count i."""
    if population < 1:
        raise ValueError(f"population must be >= 1, got {population}")
    counts = np.arange(population + 1)
    matrix = binom.pmf(counts[None, :], population, counts[:, None] / population)
    matrix.setflags(write=False)  # cached and shared: nobody may change it
    return matrix


def count_distribution(count: int, population: int, generations: int) -> np.ndarray:
    """(generations + 1, N + 1): the distribution of the breed's count at t = 0..generations."""
    _check(count, population)
    matrix = transition_matrix(population)
    state = np.zeros(population + 1)
    state[count] = 1.0
    rows = [state]
    for _ in range(generations):
        state = state @ matrix
        rows.append(state)
    return np.stack(rows)


def survival_probability(count: int, population: int, generations: int) -> np.ndarray:
    """(generations + 1,): P(the breed still has at least one image) at t = 0..generations."""
    return 1.0 - count_distribution(count, population, generations)[:, 0]


def survival_from_pool(count: int, pool: int, population: int, generations: int) -> np.ndarray:
    """(generations + 1,): P(the breed has at least one image) at t = 0..generations when generation 1 draws
    ``population`` images from a pool of ``pool`` holding ``count`` of the breed, and each later generation
    resamples the ``population`` images before it (``survival_probability`` when pool = population)."""
    _check(count, pool)
    first = binom.pmf(np.arange(population + 1), population, count / pool)  # the count after generation 1
    matrix = transition_matrix(population)
    rows, state = [float(count > 0)], first
    for _ in range(generations):
        rows.append(1.0 - float(state[0]))
        state = state @ matrix
    return np.array(rows[: generations + 1])


def loss_probability(count: int, population: int) -> float:
    """P(the breed is eventually lost) = 1 - k/N, exactly (the share is a martingale)."""
    _check(count, population)
    return 1.0 - count / population


def mean_time_to_loss(count: int, population: int) -> float:
    """Exact E[generations until the count hits 0 | it does], from the chain's fundamental matrix.

    With Q the transitions among the transient states 1..N-1 and F = (I - Q)^-1, the
    probabilities of loss are u = F r (r: one-step probabilities of hitting 0), and
    E[T; loss] from state i is (F u)_i, so E[T | loss] = (F u)_i / u_i.
    """
    _check(count, population)
    if count == 0:
        return 0.0
    if count == population:
        raise ValueError("a breed holding all N images can never be lost")
    matrix = transition_matrix(population)
    transient = matrix[1:population, 1:population]
    to_loss = matrix[1:population, 0]
    solve = np.linalg.solve
    identity = np.eye(population - 1)
    loss = solve(identity - transient, to_loss)  # (N - 1,) = 1 - i/N up to rounding
    time_and_loss = solve(identity - transient, loss)  # F u: the expected time, weighted by loss
    return float(time_and_loss[count - 1] / loss[count - 1])


def diffusion_time_to_loss(share: float, population: int) -> float:
    """The diffusion approximation of the mean time to loss given loss: -2N p ln p / (1 - p)."""
    if not 0 < share < 1:
        raise ValueError(f"share must be strictly between 0 and 1, got {share}")
    return float(-2 * population * share * np.log(share) / (1 - share))


def _check(count: int, population: int) -> None:
    if population < 1 or not 0 <= count <= population:
        raise ValueError("need 0 <= count <= population and population >= 1, "
                         f"got count {count}, population {population}")
