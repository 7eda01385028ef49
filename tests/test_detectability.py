"""The detectability test: its false-alarm rate and power by (small, seeded) simulation, and its pieces."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import binom

from imagelab.config import EvalConfig
from imagelab.data.imageset import ImageSet
from imagelab.judge.calibration import false_positive_floors
from imagelab.judge.judgement import Judgement
from imagelab.metrics.detectability import ErrorsOnlyTest, FloorRule, judged_counts
from imagelab.metrics.metric import GenerationInputs, MetricContext
from imagelab.metrics.suite import MetricSuite

ALPHA = 0.05
HELD_OUT = 100  # held-out images per breed
COMPOSITION = np.array([600, 200, 50, 0])  # the last breed truly absent


def true_rates(into_last: float) -> np.ndarray:
    """(4, 5) P(judged j | true i): breed 0 errs into the last breed at ``into_last``; 0.2% spread; 0.5% rejected."""
    k = 4
    rates = np.full((k, k + 1), 0.002)
    rates[:, k] = 0.005
    rates[0, k - 1] = into_last
    rates[np.arange(k), np.arange(k)] = 0.0
    rates[np.arange(k), np.arange(k)] = 1.0 - rates.sum(1)
    return rates


def simulate(rates: np.ndarray, composition: np.ndarray, replicates: int, seed: int) -> float:
    """Share of replicates in which the test calls the last breed detectable."""
    rng = np.random.default_rng(seed)
    k = len(composition)
    detected = 0
    for _ in range(replicates):
        confusion = torch.from_numpy(np.stack([rng.multinomial(HELD_OUT, row) for row in rates]))
        judged = sum(rng.multinomial(n, row) for n, row in zip(composition, rates))  # (K + 1,) counts
        labels = torch.from_numpy(np.repeat(np.arange(-1, k), np.roll(judged, 1)))  # -1: unrecognized
        detected += bool(ErrorsOnlyTest(confusion, ALPHA).detect(labels).detectable[-1])
    return detected / replicates


def test_an_absent_breed_is_called_present_at_most_alpha():
    replicates = 400
    slack = 3 * math.sqrt(ALPHA * (1 - ALPHA) / replicates)
    for into_last in (0.003, 0.02, 0.06):  # 600 images of breed 0 send about 2, 12 or 36 false positives
        called = simulate(true_rates(into_last), COMPOSITION, replicates, seed=1)
        assert called <= ALPHA + slack, (into_last, called)


def test_power_grows_with_the_true_images_and_reaches_one():
    detected = []
    for true_images in (2, 15, 60):
        composition = COMPOSITION.copy()
        composition[-1] = true_images
        detected.append(simulate(true_rates(0.003), composition, replicates=80, seed=2))
    assert detected[0] <= 0.2 and detected[-1] >= 0.95, detected
    assert detected == sorted(detected), detected


def test_without_held_out_errors_it_is_the_exact_two_poisson_test():
    confusion = torch.tensor([[200, 0, 0, 0], [0, 100, 0, 0], [0, 0, 100, 0]])
    counts = np.array([500, 30, 9])
    test = ErrorsOnlyTest(confusion, ALPHA)
    # Largest exposure of the last breed: (500 + 9) / 200; given x + y = y, y is Binomial(y, c / (1 + c)).
    c = (500 + 9) / 200
    assert test.p_values(counts)[-1] == pytest.approx(binom.sf(8, 9, c / (1 + c)), rel=1e-9)
    assert test.p_values(counts)[-1] == pytest.approx((c / (1 + c)) ** 9, rel=1e-9)


def test_a_breed_is_detectable_exactly_when_its_p_value_is_at_most_alpha():
    confusion = torch.tensor([[290, 3, 1, 6], [2, 296, 0, 2], [0, 1, 299, 0]])
    test = ErrorsOnlyTest(confusion, ALPHA)
    for rare in range(40):
        counts = np.array([900, 150, rare])
        p, limit = test.p_values(counts)[-1], test.error_limits(counts)[-1]
        assert (rare > limit) == (p <= ALPHA), (rare, p, limit)
    assert test.error_limits(np.array([900, 150, 0]))[-1] > 0  # errors alone could give a few


def test_zero_is_never_detectable_and_a_lone_breed_needs_one_image():
    test = ErrorsOnlyTest(torch.tensor([[100, 0, 0], [0, 100, 0]]), ALPHA)
    assert not test.detect(torch.tensor([0, 0, 0, -1])).detectable[1]
    lone = ErrorsOnlyTest(torch.tensor([[50, 0]]), ALPHA).detect(torch.tensor([0]))
    assert bool(lone.detectable[0]) and int(lone.error_limit[0]) == 0


def test_the_floor_rule_is_the_earlier_share_rule():
    labels = torch.tensor([0] * 95 + [1] * 4 + [-1])
    detection = FloorRule(torch.tensor([0.05, 0.05, 0.0], dtype=torch.float64)).detect(labels)
    assert detection.detectable.tolist() == [True, False, False]  # 4% < 5%; no sample of breed 2
    assert detection.error_limit.tolist() == [4, 4, 0]
    assert judged_counts(labels, 3).tolist() == [95, 4, 0]


# --- in the suite: detectable_*, error_limit_*, breeds_alive and extinct_since_* agree ----------------

BREEDS = ("common", "middle", "rare")


def judgement_of(counts: list[int]) -> Judgement:
    labels = torch.repeat_interleave(torch.arange(3), torch.tensor(counts))
    features = torch.eye(3, 8)[labels] * 10 + torch.randn(len(labels), 8, generator=torch.Generator().manual_seed(0))
    return Judgement(labels=labels, predicted=labels, confidence=torch.ones(len(labels)), features=features)


@pytest.fixture(scope="module")
def rows():
    reference = judgement_of([400, 200, 40])
    images = ImageSet.create(torch.zeros(len(reference.labels), 3, 2, 2, dtype=torch.uint8), reference.labels)
    confusion = torch.tensor([[298, 0, 2, 0], [0, 300, 0, 0], [0, 0, 300, 0]])  # common errs into rare
    floors = {b: float(f) for b, f in zip(BREEDS, false_positive_floors(confusion))}
    context = MetricContext(BREEDS, images, reference.features, floors, confusion, EvalConfig(), seed=0,
                            device=torch.device("cpu"))
    suite = MetricSuite(context)
    made = []
    for generation, rare in enumerate((40, 3, 30, 2, 1)):
        judgement = judgement_of([400, 200, rare])
        samples = ImageSet.create(torch.arange(len(judgement.labels)).reshape(-1, 1, 1, 1).expand(-1, 3, 2, 2)
                                  .to(torch.uint8), judgement.labels)
        made.append(suite.measure(GenerationInputs(generation, samples, judgement, images, reference, tuple(made))))
    return made


def test_rows_carry_the_verdict_and_extinction_follows_it(rows):
    detectable = [row["detectable_rare"] for row in rows]
    assert detectable == [1, 0, 1, 0, 0]  # 2 images of 400 * 2/300 expected errors are no evidence
    assert all(row["detectable_rare"] == int(row["share_rare"] * row["samples"] > row["error_limit_rare"])
               for row in rows)
    assert [row["breeds_alive"] for row in rows] == [2 + d for d in detectable]
    extinct = [row["extinct_since_rare"] for row in rows]
    assert math.isnan(extinct[0]) and extinct[1] == 1 and math.isnan(extinct[2]) and extinct[3:] == [3, 3]
    assert all(math.isnan(row["extinct_since_common"]) for row in rows)


def test_detection_floor_set_keeps_the_earlier_rule():
    reference = judgement_of([400, 200, 40])
    images = ImageSet.create(torch.zeros(len(reference.labels), 3, 2, 2, dtype=torch.uint8), reference.labels)
    confusion = torch.tensor([[400, 0, 0, 0], [0, 200, 0, 0], [0, 0, 40, 0]])
    context = MetricContext(BREEDS, images, reference.features, dict.fromkeys(BREEDS, 0.004), confusion,
                            EvalConfig(detection_floor=0.004), seed=0, device=torch.device("cpu"))
    judgement = judgement_of([400, 200, 3])  # 3 of 603 = 0.5%, above a 0.4% floor; the test would say no
    samples = ImageSet.create(torch.zeros(603, 3, 2, 2, dtype=torch.uint8), judgement.labels)
    row = MetricSuite(context).measure(GenerationInputs(1, samples, judgement, images, reference, ()))
    assert row["detectable_rare"] == 1 and row["breeds_alive"] == 3 and row["error_limit_rare"] == 2
