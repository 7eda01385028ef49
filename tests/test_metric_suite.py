"""The per-generation metric suite on synthetic judge features: sanity on sets whose answers are known."""

import math

import pytest
import torch

from imagelab.config import EvalConfig
from imagelab.data.imageset import ImageSet
from imagelab.judge.judgement import Judgement
from imagelab.metrics.breed_distances import KID_MIN_SAMPLES, kid
from imagelab.metrics.diversity import (
    hill_numbers,
    kl_divergence,
    rarest_breeds,
    within_breed_variance,
)
from imagelab.metrics.metric import GenerationInputs, MetricContext
from imagelab.metrics.suite import MetricSuite

BREEDS = ("common", "middle", "rare")
COUNTS = [400, 200, 40]


def judged(seed: int, counts=COUNTS, spread: float = 1.0, dimensions: int = 16) -> Judgement:
    """Separated breed clusters as features, labelled correctly: what a perfect judge would return."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    centres = 12 * torch.eye(len(counts), dimensions)
    features = centres[labels] + spread * torch.randn(len(labels), dimensions, generator=generator)
    n = len(labels)
    return Judgement(labels=labels, predicted=labels, confidence=torch.ones(n), features=features)


class Suite:
    """The run's metric suite with ``reference`` as both the reference split and generation 0."""

    def __init__(self, reference: Judgement, **eval_overrides) -> None:
        images = ImageSet.create(images_of(reference), reference.labels)
        counts = torch.bincount(reference.labels)
        perfect = torch.cat([torch.diag(counts), torch.zeros(len(BREEDS), 1, dtype=torch.int64)], 1)
        context = MetricContext(BREEDS, images, reference.features, {b: 0.01 for b in BREEDS},
                                label_confusion=perfect, eval=EvalConfig(**eval_overrides), seed=0,
                                device=torch.device("cpu"))
        self.reference = reference
        self.pool = images
        self.suite = MetricSuite(context)

    def measure(self, images: torch.Tensor, judgement: Judgement) -> dict:
        """The row of a generation 1 whose samples are ``images`` judged as ``judgement``."""
        inputs = GenerationInputs(1, ImageSet.create(images), judgement, self.pool, self.reference, ())
        return self.suite.measure(inputs)


def suite(reference: Judgement, **eval_overrides) -> Suite:
    return Suite(reference, **eval_overrides)


def images_of(judgement: Judgement) -> torch.Tensor:
    return torch.zeros(len(judgement.labels), 3, 2, 2, dtype=torch.uint8)


def test_identical_sets_give_zero_distances_and_full_coverage():
    reference = judged(0)
    row = suite(reference).measure(images_of(reference), reference)
    assert row["fid"] == pytest.approx(0.0, abs=1e-6)
    assert row["coverage"] == 1.0 and row["precision"] == 1.0 and row["recall"] == 1.0
    assert all(row[f"coverage_{b}"] == 1.0 for b in BREEDS)
    assert row["kl_to_real"] == pytest.approx(0.0, abs=1e-12)
    assert row["within_breed_variance"] == pytest.approx(1.0)
    for breed in ("common", "middle"):  # enough images on both sides for a Fréchet distance (> 16 features)
        assert row[f"frechet_{breed}"] == pytest.approx(0.0, abs=1e-6)
    assert row["frechet_rare"] == pytest.approx(0.0, abs=1e-6)  # 40 > 16 dimensions too
    # KID of identical sets is slightly negative or zero (unbiased estimator), never clearly positive.
    assert all(row[f"kid_{b}"] < 1e-3 for b in BREEDS)


def test_removing_a_breed_drops_its_coverage_and_leaves_the_others():
    metrics = suite(judged(0))
    fresh = judged(1)
    keep = fresh.labels != 2
    without_rare = Judgement(*(getattr(fresh, f)[keep] for f in ("labels", "predicted", "confidence", "features")))
    row = metrics.measure(images_of(without_rare), without_rare)
    assert row["coverage_rare"] == 0.0 and row["recall_rare"] == 0.0
    assert row["coverage_common"] > 0.9 and row["coverage_middle"] > 0.9
    assert row["coverage"] == pytest.approx((400 * row["coverage_common"] + 200 * row["coverage_middle"]) / 640)
    assert row["tail_mass"] == pytest.approx(1.0)  # 3 breeds, tail_breeds=3: every recognized sample
    assert row["hill_richness"] == 2.0
    assert math.isnan(row["kid_rare"]) and math.isnan(row["frechet_rare"])  # nothing judged as the rare breed
    assert row["kl_to_real"] > 0


def test_shrunk_samples_lower_within_breed_variance_and_raise_kid():
    metrics = suite(judged(0), tail_breeds=1)
    shrunk = judged(2, spread=0.5)
    row = metrics.measure(images_of(shrunk), shrunk)
    assert row["within_breed_variance"] == pytest.approx(0.25, rel=0.1)  # variance scales with spread²
    assert all(row[f"kid_{b}"] > 0.01 and row[f"frechet_{b}"] > 1.0 for b in BREEDS)
    assert row["tail_mass"] == pytest.approx(40 / 640)  # tail_breeds=1: the rarest breed's share
    fresh = judged(3)
    same_law = metrics.measure(images_of(fresh), fresh)
    # Fresh samples of the same law sit closer than shrunk ones (the rare breed's 40 images are too noisy for KID).
    assert all(same_law[f"kid_{b}"] < row[f"kid_{b}"] / 2 for b in ("common", "middle"))
    assert all(same_law[f"frechet_{b}"] < row[f"frechet_{b}"] for b in BREEDS)


def test_hill_numbers_kl_and_tail():
    even = hill_numbers(torch.tensor([0.25, 0.25, 0.25, 0.25]))
    assert even == pytest.approx({"hill_richness": 4, "hill_shannon": 4, "hill_simpson": 4})
    uneven = hill_numbers(torch.tensor([0.7, 0.2, 0.1, 0.0]))
    assert uneven["hill_richness"] == 3 and uneven["hill_richness"] > uneven["hill_shannon"] > uneven["hill_simpson"]
    assert uneven["hill_simpson"] == pytest.approx(1 / (0.49 + 0.04 + 0.01))
    assert kl_divergence(torch.tensor([0.5, 0.5]), torch.tensor([0.9, 0.1])) == pytest.approx(
        0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1))
    assert kl_divergence(torch.tensor([0.5, 0.5]), torch.tensor([1.0, 0.0])) == math.inf
    assert rarest_breeds(torch.tensor([0, 0, 0, 1, 2, 2, 3]), 5, 2) == [3, 4]  # 4 has none; 1 and 3 tie, 3 is later
    assert rarest_breeds(torch.tensor([0, 1, 2]), 3, 2) == [1, 2]  # ties: the later breed is the rarer


def test_within_breed_variance_and_kid_edge_cases():
    features = torch.tensor([[0.0, 0.0], [2.0, 0.0], [5.0, 5.0]])
    traces = within_breed_variance(features, torch.tensor([0, 0, 1]), 3)
    assert traces[0] == pytest.approx(2.0) and math.isnan(traces[1]) and math.isnan(traces[2])
    few = torch.randn(KID_MIN_SAMPLES - 1, 4)
    assert math.isnan(kid(torch.randn(100, 4), few, seed=0))
    real, fake = torch.randn(100, 4), torch.randn(60, 4) + 1
    assert kid(real, fake, seed=0) == kid(real, fake, seed=0)  # seeded subsets: the same number every time
    assert kid(real, fake, seed=0) > 0.05


def test_the_k_of_the_knn_balls_must_fit_the_reference():
    from imagelab.errors import ConfigError

    with pytest.raises(ConfigError, match="eval.nearest_k: must be below the reference set's size"):
        suite(judged(0, counts=[3, 2, 1]), nearest_k=6)
