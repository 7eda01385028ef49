"""Corrected shares and detection floors from the judge's confusion on real held-out images."""

import torch

from imagelab.judge.calibration import clopper_pearson_upper, false_positive_floors, label_confusion
from imagelab.metrics.bbse import corrected_shares


def _simulate(true_shares: torch.Tensor, rates: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Judged labels (-1 = unrecognized) for n images drawn from true_shares through rates (K, K + 1)."""
    generator = torch.Generator().manual_seed(seed)
    truth = torch.multinomial(true_shares, n, replacement=True, generator=generator)
    judged = torch.multinomial(rates[truth], 1, generator=generator)[:, 0]
    k = len(true_shares)
    return torch.where(judged == k, torch.full_like(judged, -1), judged)


def _judged_shares(labels: torch.Tensor, k: int) -> torch.Tensor:
    counts = torch.bincount(torch.where(labels < 0, torch.full_like(labels, k), labels), minlength=k + 1)
    return counts.double() / len(labels)


def test_label_confusion_counts_unrecognized_in_the_last_column():
    truth = torch.tensor([0, 0, 1, 1, 2])
    labels = torch.tensor([0, -1, 1, 0, 2])
    assert label_confusion(truth, labels, 3).tolist() == [[1, 0, 0, 1], [1, 1, 0, 0], [0, 0, 1, 0]]


def test_bbse_recovers_known_shares_from_a_simulated_confusion_matrix():
    # Three breeds, the rare one confused with the common one in both directions, some rejections.
    rates = torch.tensor([[0.90, 0.02, 0.05, 0.03],
                          [0.05, 0.85, 0.05, 0.05],
                          [0.20, 0.05, 0.70, 0.05]], dtype=torch.float64)
    held_out = label_confusion(torch.arange(3).repeat_interleave(20_000),
                               _simulate_rows(rates, 20_000, seed=1), 3)
    true_shares = torch.tensor([0.80, 0.17, 0.03], dtype=torch.float64)
    judged = _judged_shares(_simulate(true_shares, rates, 60_000, seed=2), 3)
    corrected = corrected_shares(judged, held_out)
    recognized = 1 - judged[-1]
    # The raw share of the rare breed is far off (0.8 * 0.05 false positives); the corrected one is not.
    assert abs(judged[2] / recognized - 0.03) > 0.02
    assert torch.allclose(corrected / recognized, true_shares, atol=0.01)
    assert abs(float(corrected.sum() + judged[-1]) - 1.0) < 1e-9  # still shares of all samples


def _simulate_rows(rates: torch.Tensor, per_breed: int, seed: int) -> torch.Tensor:
    """Judged labels for per_breed held-out images of each breed in turn."""
    generator = torch.Generator().manual_seed(seed)
    k = rates.shape[0]
    judged = torch.cat([torch.multinomial(rates[t], per_breed, replacement=True, generator=generator)
                        for t in range(k)])
    return torch.where(judged == k, torch.full_like(judged, -1), judged)


def test_bbse_leaves_a_perfect_judge_alone():
    confusion = torch.diag(torch.tensor([100, 100, 100]))
    confusion = torch.cat([confusion, torch.zeros(3, 1, dtype=torch.int64)], dim=1)
    judged = torch.tensor([0.5, 0.3, 0.1, 0.1], dtype=torch.float64)
    assert torch.allclose(corrected_shares(judged, confusion), judged[:3])


def test_detection_floor_is_the_rule_of_three_without_errors_and_grows_with_them():
    assert abs(clopper_pearson_upper(0, 900) - (1 - 0.05 ** (1 / 900))) < 1e-9  # ~0.33%, the rule of three
    clean = torch.cat([torch.diag(torch.full((10,), 100)), torch.zeros(10, 1, dtype=torch.int64)], dim=1)
    floors = false_positive_floors(clean)
    assert torch.allclose(floors, torch.full((10,), clopper_pearson_upper(0, 900), dtype=torch.float64))
    noisy = clean.clone()
    noisy[0, 0] -= 4
    noisy[0, 9] += 4  # four golden retrievers judged as the last breed
    floors = false_positive_floors(noisy)
    assert floors[9] > floors[0]
    assert 4 / 900 < floors[9] < 0.012
