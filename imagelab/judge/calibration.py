"""The judge's errors on real held-out images: its confusion matrix and per-breed detection floors.

Rows of the confusion are the true breed, columns the judged breed, then unrecognized.
A breed's floor is the upper bound of the rate at which other breeds' images are called
that breed; with ``eval.detection_floor`` set, a share below it counts as judge error. By
default the lab decides with a test that uses the whole confusion and the sample's own
composition instead (``imagelab/metrics/detectability.py``; docs/metrics.md).
"""

from __future__ import annotations

import torch
from scipy.stats import beta

FLOOR_CONFIDENCE = 0.95


def label_confusion(truth: torch.Tensor, labels: torch.Tensor, num_breeds: int) -> torch.Tensor:
    """Counts (K, K + 1): row = true breed, column = judged breed, last column = unrecognized (label -1)."""
    judged = torch.where(labels < 0, torch.full_like(labels, num_breeds), labels)
    flat = truth.long() * (num_breeds + 1) + judged.long()
    return torch.bincount(flat, minlength=num_breeds * (num_breeds + 1)).reshape(num_breeds, num_breeds + 1)


def false_positive_floors(confusion: torch.Tensor, confidence: float = FLOOR_CONFIDENCE) -> torch.Tensor:
    """Per breed (K,): one-sided upper confidence bound of the rate at which other breeds are judged as it.

    Clopper–Pearson on x = other breeds' held-out images judged as the breed, out of
    n = all other breeds' held-out images: with no such error among 9,000 images (the
    default's 1,000 per breed for nine other breeds) the floor is 0.033%, the "rule of three".
    """
    k = confusion.shape[0]
    judged_as = confusion[:, :k]
    false_positives = judged_as.sum(0) - judged_as.diag()  # column sums without the correct ones
    others = confusion.sum() - confusion.sum(1)  # held-out images of every other breed
    bounds = [clopper_pearson_upper(int(x), int(n), confidence) for x, n in zip(false_positives, others)]
    return torch.tensor(bounds, dtype=torch.float64)


def clopper_pearson_upper(successes: int, trials: int, confidence: float = FLOOR_CONFIDENCE) -> float:
    """One-sided upper bound of a binomial rate (exact, never below the observed rate)."""
    if trials <= 0:
        return 1.0
    if successes >= trials:
        return 1.0
    return float(beta.ppf(confidence, successes + 1, trials - successes))


def clopper_pearson_lower(successes: int, trials: int, confidence: float = FLOOR_CONFIDENCE) -> float:
    """One-sided lower bound of a binomial rate (exact, never above the observed rate; 0 without successes)."""
    if trials <= 0 or successes <= 0:
        return 0.0
    return float(beta.ppf(1.0 - confidence, successes, trials - successes + 1))
