"""Distinct images on planted copies: exact copies and near-copies count once, distinct images each count."""

import numpy as np
import torch

from imagelab.config import EvalConfig
from imagelab.data.imageset import ImageSet
from imagelab.judge.judgement import Judgement
from imagelab.metrics.distinct import (
    Distinct,
    copy_groups,
    distinct_count,
    distinct_counts,
    duplicate_threshold,
)
from imagelab.metrics.metric import GenerationInputs, MetricContext

BREEDS = ("common", "rare")
DIMENSIONS = 8


def random_images(count: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (count, 3, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def spread_features(count: int, seed: int) -> torch.Tensor:
    """Points with typical nearest-neighbour distances of about 1-2 (8 dimensions, unit Gaussian)."""
    return torch.randn(count, DIMENSIONS, generator=torch.Generator().manual_seed(seed))


def test_exact_copies_count_once_whatever_their_features():
    images = random_images(1, seed=0).repeat(3, 1, 1, 1)
    features = spread_features(3, seed=1) * 100  # far apart: only the bytes say they are one image
    assert copy_groups(images).tolist() == [0, 0, 0]
    assert distinct_count(features, copy_groups(images), threshold=0.0) == 1


def test_three_distinct_images_count_three():
    images, features = random_images(3, seed=2), spread_features(3, seed=3)
    assert distinct_count(features, copy_groups(images), threshold=0.01) == 3


def test_near_copies_count_once_at_the_threshold_calibrated_on_real_images():
    reference_features, reference_images = spread_features(300, seed=4), random_images(300, seed=5)
    threshold = duplicate_threshold(reference_features, reference_images)
    assert 0 < threshold < 1.0  # the 1% quantile of real nearest-neighbour distances
    base = spread_features(2, seed=6) * 3  # two different dogs
    noise = 1e-3 * spread_features(6, seed=7)
    features = torch.cat([base[0].expand(3, -1), base[1].expand(3, -1)]) + noise  # each drawn 3 times, jittered
    images = random_images(6, seed=8)  # every one different in its bytes
    assert distinct_count(features, copy_groups(images), threshold) == 2


def test_the_threshold_ignores_real_exact_duplicates():
    features, images = spread_features(200, seed=9), random_images(200, seed=10)
    doubled = duplicate_threshold(torch.cat([features, features[:20]]), torch.cat([images, images[:20]]))
    assert doubled == duplicate_threshold(features, images) > 0  # 10% copies do not pull the threshold to 0


def test_chunked_components_match_one_pass(monkeypatch):
    features = torch.cat([spread_features(40, seed=11), spread_features(40, seed=11) + 1e-4])  # 40 pairs
    groups = np.arange(80)
    whole = distinct_count(features, groups, threshold=0.01)
    monkeypatch.setattr("imagelab.metrics.distinct.CHUNK_ELEMENTS", 80 * 7)  # 7 rows at a time
    assert distinct_count(features, groups, threshold=0.01) == whole == 40


def test_a_breed_counts_only_chains_within_it():
    # one near-copy pair judged as two breeds: one image overall, one for each breed
    features = torch.cat([torch.zeros(1, DIMENSIONS), torch.full((1, DIMENSIONS), 1e-4), spread_features(2, 18) * 9])
    labels = torch.tensor([0, 1, 1, 0])
    assert distinct_counts(features, np.arange(4), labels, threshold=0.01, num_breeds=2) == (3, [2, 2])


def test_the_metric_counts_overall_and_per_judged_breed():
    reference_features, reference_images = spread_features(200, seed=12), random_images(200, seed=13)
    labels = torch.tensor([0] * 100 + [1] * 100)
    reference = ImageSet.create(reference_images, labels)
    confusion = torch.tensor([[100, 0, 0], [0, 100, 0]])
    context = MetricContext(BREEDS, reference, reference_features, dict.fromkeys(BREEDS, 0.01), confusion,
                            EvalConfig(), seed=0, device=torch.device("cpu"))
    metric = Distinct(Distinct.Config(), context)
    # Samples: 5 distinct commons, then one rare image copied 3 times and a rare near-copy of it; one unrecognized.
    rare_image = random_images(1, seed=14)
    images = torch.cat([random_images(5, seed=15), rare_image.repeat(3, 1, 1, 1), random_images(2, seed=16)])
    features = torch.cat([spread_features(5, seed=17) * 3, torch.full((4, DIMENSIONS), 5.0),
                          torch.full((1, DIMENSIONS), -5.0)])
    features[8] += 1e-4  # the near-copy (different bytes)
    judged = torch.tensor([0] * 5 + [1] * 4 + [-1])
    judgement = Judgement(labels=judged, predicted=judged.clamp(min=0), confidence=torch.ones(10), features=features)
    inputs = GenerationInputs(1, ImageSet.create(images), judgement, reference, judgement, ())
    row = metric.measure(inputs)
    assert row == {"distinct": 7, "distinct_common": 5, "distinct_rare": 1}
    assert [column.name for column in Distinct.columns(Distinct.Config(), BREEDS)] == [
        "distinct", "distinct_common", "distinct_rare"]
