import math

import pytest
import torch

from imagelab.metrics.breeds import breed_shares, census, total_variation
from imagelab.metrics.fid import FeatureFID

BREEDS = ("a", "b", "c")


def test_shares_include_unrecognized_and_sum_to_one():
    labels = torch.tensor([0, 0, 1, -1, 2, 2, 2, -1])
    shares = breed_shares(labels, 3)
    assert shares.tolist() == [2 / 8, 1 / 8, 3 / 8, 2 / 8]
    assert math.isclose(float(shares.sum()), 1.0)


def test_census_columns_alive_entropy_and_tv():
    labels = torch.tensor([0] * 90 + [1] * 9 + [-1])
    real = torch.tensor([0.5, 0.3, 0.2, 0.0], dtype=torch.float64)
    row = census(labels, BREEDS, detection_floor=0.05, real_shares=real)
    assert row["share_a"] == 0.9 and row["share_b"] == 0.09 and row["share_c"] == 0.0
    assert row["share_unrecognized"] == pytest.approx(0.01)
    assert row["breeds_alive"] == 2  # c has no samples
    assert census(labels, BREEDS, detection_floor=0.10)["breeds_alive"] == 1  # b is below a 10% floor
    p = torch.tensor([90, 9]) / 99
    assert row["entropy"] == pytest.approx(float(-(p * p.log()).sum()))
    assert row["tv_to_real"] == pytest.approx(0.5 * (0.4 + 0.21 + 0.2 + 0.01))


def test_total_variation_bounds():
    p = torch.tensor([1.0, 0.0])
    assert total_variation(p, p) == 0.0
    assert total_variation(p, torch.tensor([0.0, 1.0])) == 1.0


def test_feature_fid_is_zero_for_identical_sets_and_grows_with_a_shift():
    features = torch.randn(500, 8, generator=torch.Generator().manual_seed(0))
    fid = FeatureFID(features)
    assert fid(features) == pytest.approx(0.0, abs=1e-6)
    shifted = fid(features + 1.0)
    assert shifted == pytest.approx(8.0, rel=1e-3)  # a mean shift of 1 in 8 dimensions adds |d|^2 = 8
    assert fid(features) == pytest.approx(0.0, abs=1e-6)  # the real statistics survive the reset
