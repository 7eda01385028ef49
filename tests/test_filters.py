"""Each filter does what it says on a constructed set with known confidences, labels and provenance."""

import torch

from imagelab.data.imageset import REAL, UNLABELED, ImageSet
from imagelab.judge.judgement import Judgement
from imagelab.pools.filters import FILTERS, POOL, SAMPLES, apportion
from imagelab.seeding import torch_generator

SHARES = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)


def images(count: int, provenance) -> ImageSet:
    return ImageSet(torch.zeros(count, 3, 1, 1, dtype=torch.uint8), torch.zeros(count, dtype=torch.int64),
                    torch.as_tensor(provenance, dtype=torch.int64).expand(count).clone())


def judged(labels: torch.Tensor, confidence: torch.Tensor) -> Judgement:
    """A Judgement with the given labels and confidences (features unused by the filters)."""
    return Judgement(labels, labels.clamp(min=0), confidence, torch.zeros(len(labels), 4))


def built(name: str, **settings):
    """The filter ``name`` with its Config's defaults, changed by ``settings``."""
    chosen = FILTERS.get(name)
    return chosen(chosen.Config(**settings))


def test_filters_are_registered_with_their_stage():
    assert FILTERS.names() == ["confident", "none", "provenance", "rebalance"]
    assert FILTERS.get("provenance").stage == POOL
    assert {FILTERS.get(n).stage for n in ("none", "confident", "rebalance")} == {SAMPLES}


def test_confident_keeps_recognized_samples_at_or_above_the_threshold():
    labels = torch.tensor([0, 1, 2, UNLABELED, 0, 1])
    confidence = torch.tensor([0.95, 0.90, 0.89, 0.99, 0.5, 1.0])
    confident = built("confident", threshold=0.9)
    kept = confident.select(images(6, 1), judged(labels, confidence), real_shares=SHARES, generator=torch_generator(0))
    assert kept.tolist() == [0, 1, 5]  # 0.89 and 0.5 fall short; an unrecognized image never passes


def test_rebalance_resamples_toward_the_generation_zero_shares():
    # 100 samples judged 80 / 15 / 0 of breeds 0-2 and 5 unrecognized; generation 0 was 60 / 20 / 20.
    labels = torch.tensor([0] * 80 + [1] * 15 + [UNLABELED] * 5)
    judgement = judged(labels, torch.ones(100))
    shares = torch.tensor([0.6, 0.2, 0.2])
    rebalance = built("rebalance")
    kept = rebalance.select(images(100, 1), judgement, real_shares=shares, generator=torch_generator(3))
    # Breed 2 is gone and cannot come back: its share goes to the others, 0.6/0.8 and 0.2/0.8 of 100.
    assert torch.bincount(labels[kept], minlength=3).tolist() == [75, 25, 0]
    assert len(set(kept[labels[kept] == 0].tolist())) == 75  # enough of breed 0: drawn without replacement
    assert set(kept[labels[kept] == 1].tolist()) == set(range(80, 95))  # breed 1 short: all 15, then repeats
    again = rebalance.select(images(100, 1), judgement, real_shares=shares, generator=torch_generator(3))
    assert torch.equal(kept, again)


def test_provenance_drops_flagged_images_at_the_detectors_rates():
    count = 20_000
    pool = images(count, torch.tensor([REAL, 3]).repeat(count // 2))
    kept = built("provenance", detector_recall=0.8, detector_false_positive_rate=0.1).select(
        pool, None, real_shares=SHARES, generator=torch_generator(1))
    kept_real = int((pool.provenance[kept] == REAL).sum())
    kept_synthetic = len(kept) - kept_real
    # Binomial counts: 10,000 x 0.9 and 10,000 x 0.2, within 5 standard deviations (30 and 40).
    assert abs(kept_real - 9000) < 150 and abs(kept_synthetic - 2000) < 200
    perfect = built("provenance", detector_recall=1.0, detector_false_positive_rate=0.0).select(
        pool, None, real_shares=SHARES, generator=torch_generator(1))
    assert (pool.provenance[perfect] == REAL).all() and len(perfect) == count // 2


def test_apportion_sums_to_the_total():
    counts = apportion(torch.tensor([1 / 3, 1 / 3, 1 / 3]), 100)
    assert counts.sum() == 100 and sorted(counts.tolist()) == [33, 33, 34]
