"""Neutral-drift formulas against their exact limits and a quick Wright-Fisher simulation."""

import numpy as np
import pytest

from imagelab.metrics.theory import drift_band, drift_variance, expected_heterozygosity


def test_drift_variance_limits():
    p = np.array([0.5, 0.1, 0.004])
    assert drift_variance(p, 100, 0) == pytest.approx(np.zeros(3))  # nothing has drifted yet
    assert drift_variance(p, 100, 10_000) == pytest.approx(p * (1 - p))  # fixed or lost: Bernoulli variance
    assert drift_variance(p, 1, 1) == pytest.approx(p * (1 - p))  # one image: fixed or lost at once
    assert drift_variance(p, 100, 1) == pytest.approx(p * (1 - p) / 100)  # one binomial draw
    assert drift_variance([0.0, 1.0], 100, 7) == pytest.approx([0.0, 0.0])  # absorbed shares stay put


def test_drift_variance_matches_a_simulated_wright_fisher_chain():
    rng = np.random.default_rng(0)
    population, p0, chains, generations = 50, 0.2, 20_000, 30
    counts = np.full(chains, round(p0 * population))
    variances = [0.0]
    for _ in range(generations):
        counts = rng.binomial(population, counts / population)
        variances.append((counts / population).var())
    theory = drift_variance(p0, population, np.arange(generations + 1))
    assert np.allclose(np.array(variances)[1:], theory[1:], rtol=0.06)
    assert (counts / population).mean() == pytest.approx(p0, abs=0.01)  # drift has no direction


def test_band_is_clipped_and_heterozygosity_decays():
    low, high = drift_band(np.array([0.01, 0.5]), 40, np.array([0, 5]))
    assert low[0] == 0.01 and high[0] == 0.01  # t = 0: no spread
    assert low[1] >= 0.0 and high[1] <= 1.0 and low[1] < 0.5 < high[1]
    assert low.tolist() == [0.01, pytest.approx(0.5 - 2 * np.sqrt(0.25 * (1 - (39 / 40) ** 5)))]
    assert expected_heterozygosity(0.6, 40, 40) == pytest.approx(0.6 * (39 / 40) ** 40)
