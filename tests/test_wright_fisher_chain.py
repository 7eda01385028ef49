"""The exact Wright-Fisher chain: its own identities, the diffusion limit, and the resample generator against it."""

import numpy as np
import pytest
import torch
from scipy.stats import beta

from imagelab.data.imageset import ImageSet
from imagelab.generators import GENERATORS, DataSpec
from imagelab.metrics.theory import expected_heterozygosity
from imagelab.metrics.wright_fisher import (
    count_distribution,
    diffusion_time_to_loss,
    loss_probability,
    mean_time_to_loss,
    survival_probability,
    transition_matrix,
)
from imagelab.seeding import derive_seed


def test_the_chain_is_a_stochastic_martingale_with_the_known_heterozygosity_decay():
    n = 30
    matrix = transition_matrix(n)
    assert matrix.shape == (31, 31) and np.allclose(matrix.sum(1), 1.0)
    assert matrix[0, 0] == 1.0 and matrix[n, n] == 1.0  # lost and fixed absorb
    assert np.allclose(matrix @ np.arange(n + 1), np.arange(n + 1))  # E[next count] = count
    distribution = count_distribution(6, n, 12)  # (13, 31)
    p = np.arange(n + 1) / n
    heterozygosity = distribution @ (2 * p * (1 - p))  # two types: H = 1 - p² - (1 - p)² = 2p(1 - p)
    assert np.allclose(heterozygosity, expected_heterozygosity(2 * 0.2 * 0.8, n, np.arange(13)))
    survival = survival_probability(6, n, 500)
    assert survival[0] == 1.0 and np.all(np.diff(survival) <= 1e-15)
    # Long run: lost with probability 1 - k/N, else fixed (and fixed breeds survive).
    assert survival[-1] == pytest.approx(1 - loss_probability(6, n), abs=1e-6)


def test_mean_time_to_loss_approaches_the_diffusion_approximation():
    assert mean_time_to_loss(1, 2) == pytest.approx(2.0)  # N=2: lost w.p. 1/4 per step, kept w.p. 1/2
    for n, k in [(200, 20), (200, 60), (200, 100), (400, 40)]:
        exact, diffusion = mean_time_to_loss(k, n), diffusion_time_to_loss(k / n, n)
        assert exact == pytest.approx(diffusion, rel=0.03), (n, k)
    # Even a single copy is close: about 10 generations among 200 images (exact 10.0, diffusion 10.6).
    assert mean_time_to_loss(1, 200) == pytest.approx(diffusion_time_to_loss(1 / 200, 200), rel=0.1)
    assert mean_time_to_loss(1, 200) < mean_time_to_loss(20, 200) < mean_time_to_loss(100, 200)


COUNTS = [14, 8, 4, 2, 1, 1]  # N = 30 images, six breeds from common to single
SEEDS = 300
CHECKED = [1, 2, 4, 8]  # generations at which survival is compared


def test_resample_generator_survival_matches_the_exact_chain():
    population = sum(COUNTS)
    resample = GENERATORS.get("resample")
    generator = resample(resample.Config(name="resample"), DataSpec(1, len(COUNTS)), torch.device("cpu"))
    start = torch.repeat_interleave(torch.arange(len(COUNTS)), torch.tensor(COUNTS))
    alive = np.zeros((SEEDS, max(CHECKED) + 1, len(COUNTS)), dtype=bool)  # (seed, generation, breed)
    for seed in range(SEEDS):
        labels = start
        for generation in range(max(CHECKED) + 1):
            alive[seed, generation] = np.bincount(labels.numpy(), minlength=len(COUNTS)) > 0
            # One generation exactly as the loop draws it: the generator's own per-sample index draw.
            generator.fit(ImageSet.create(torch.zeros(population, 3, 1, 1, dtype=torch.uint8), labels), seed=0)
            labels = labels[generator.draw_indices(population, seed=derive_seed(seed, "sample", generation + 1))]
    for breed, count in enumerate(COUNTS):
        theory = survival_probability(count, population, max(CHECKED))
        for t in CHECKED:
            survivors = int(alive[:, t, breed].sum())
            # Two-sided 99.99% Clopper-Pearson interval of the observed survival rate must hold the exact value.
            low = beta.ppf(5e-5, survivors, SEEDS - survivors + 1) if survivors > 0 else 0.0
            high = beta.ppf(1 - 5e-5, survivors + 1, SEEDS - survivors) if survivors < SEEDS else 1.0
            assert low <= theory[t] <= high, (breed, count, t, survivors / SEEDS, theory[t])
    # The test has teeth: rare breeds really are lost along the way.
    assert alive[:, -1, -1].mean() < 0.5 and alive[:, -1, 0].mean() > 0.9
