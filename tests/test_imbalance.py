import math

import pytest

from imagelab.data.imbalance import breed_counts
from imagelab.errors import ConfigError


def test_exponential_is_the_long_tailed_cifar_profile():
    counts = breed_counts("exponential", 10, max_count=1000, ratio=100)
    assert counts == [1000, 599, 359, 215, 129, 77, 46, 28, 17, 10]
    assert sum(counts) == 2480


def test_zipf_keeps_the_requested_ratio_and_decreases():
    counts = breed_counts("zipf", 8, max_count=800, ratio=50)
    assert counts[0] == 800 and counts[-1] == round(800 / 50)
    assert all(a >= b for a, b in zip(counts, counts[1:]))
    exponent = math.log(50) / math.log(8)
    assert counts[1] == round(800 * 2 ** -exponent)


def test_step_gives_a_majority_and_a_minority():
    assert breed_counts("step", 6, max_count=300, ratio=10, minority_fraction=0.5) == [300] * 3 + [30] * 3


def test_explicit_counts_and_none():
    assert breed_counts("counts", 3, max_count=1, counts=[400, 50, 5]) == [400, 50, 5]
    assert breed_counts("none", 4, max_count=7) == [7, 7, 7, 7]


def test_counts_of_the_wrong_length_name_the_key():
    with pytest.raises(ConfigError, match=r"data\.imbalance\.counts.*one count per breed \(3\), got 2"):
        breed_counts("counts", 3, max_count=1, counts=[1, 2])
