"""The resampling null's band for distinct images: simulated lineages against exact results."""

import numpy as np
import pytest

from imagelab.metrics.distinct_null import distinct_null_bands
from imagelab.metrics.wright_fisher import survival_probability


def test_one_generation_keeps_the_exact_expected_share_of_images():
    pool = 2_000
    bands = distinct_null_bands({"all": pool}, pool, pool, 1)
    expected = pool * (1 - (1 - 1 / pool) ** pool)  # E[distinct draws among N from N]: about 1 - 1/e
    assert bands["all"].median[0] == pool
    assert bands["all"].median[1] == pytest.approx(expected, rel=0.005)
    assert bands["all"].low[1] < expected < bands["all"].high[1]


def test_each_group_follows_the_exact_survival_of_a_single_image():
    # A group of n images keeps on average n x P(a lineage of one image survives t generations) (exact chain).
    pool, generations = 300, 6
    bands = distinct_null_bands({"all": pool, "common": 200, "rare": 5}, pool, pool, generations)
    survival = survival_probability(1, pool, generations)
    assert np.allclose(bands["common"].median, 200 * survival, rtol=0.05, atol=2)
    assert np.allclose(bands["all"].median, pool * survival, rtol=0.05, atol=2)
    rare = bands["rare"]
    assert rare.median[0] == rare.low[0] == rare.high[0] == 5  # generation 0 is the pool itself
    assert np.all(rare.low <= rare.median) and np.all(rare.median <= rare.high) and np.all(np.diff(rare.high) <= 0)
    assert rare.low[-1] == 0  # five single images are often all gone by generation 6


def test_a_smaller_population_loses_images_faster_and_the_band_is_reproducible():
    first = distinct_null_bands({"all": 500}, 500, 250, 3)["all"]
    assert first.median[1] < 500 * (1 - np.exp(-0.5)) + 10  # 250 draws from 500 reach at most 250
    again = distinct_null_bands({"all": 500}, 500, 250, 3)["all"]
    assert np.array_equal(first.low, again.low) and np.array_equal(first.high, again.high)


@pytest.mark.parametrize("lineages, pool", [({"a": 8, "b": 5}, 10), ({"all": 11}, 10), ({"a": -1}, 10)])
def test_groups_that_do_not_fit_the_pool_are_refused(lineages, pool):
    with pytest.raises(ValueError, match="pool"):
        distinct_null_bands(lineages, pool, pool, 2)
