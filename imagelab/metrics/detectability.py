"""Is a breed still in the samples? Its judged count against what the judge's errors alone could give.

A breed that is truly gone from a sample set still gets a few images named after it: the
judge's errors on the other breeds' images. How many depends on this sample's own
composition (errors from 1,000 golden retrievers outweigh errors from 10 bassets) and on
error rates that are known only from a few hundred held-out real images per breed. So a
breed is called *detectable* by a stated test, not by a share threshold:

- H0 for breed b: no sample is truly b. Then the count y_b of samples judged b is a sum,
  over the other breeds a, of n_a images each judged b with probability r_ab (n_a: the
  recognized samples that are truly a; r_ab = P(judged b | true a, recognized)).
- The judge's held-out errors into b, x_b = sum_a x_ab with x_ab ~ Binomial(m_a, r_ab)
  (m_a: recognized held-out images of breed a), measure the same rates. Whatever the
  rates are, E[y_b] = sum_a n_a r_ab <= c * E[x_b] with c = max_a n_a / m_a: the
  sample's exposure to each breed's errors relative to the held-out one's, at its largest.
- Two (near-)Poisson counts whose means are in ratio at most c: given their sum, y_b is at
  most Binomial(x_b + y_b, c / (1 + c)). The p-value is that binomial's upper tail at y_b
  (the exact conditional test of two Poisson means; Przyborowski and Wilenski, Biometrika
  1940). b is detectable when p <= alpha (``eval.detection_alpha``, 0.05), so a breed that
  is truly gone is called present at most alpha of the time, whatever the unknown rates.

n_a is estimated from the sample as y_a + y_b: the samples judged a, plus every sample
judged b (under H0 they come from other breeds, at worst all from a). Images of a judged
as a third breed are left out (under 1% of a's for a 99%-accurate judge). The price of not
knowing the rates is power: with 300 held-out images per breed and 1,000 golden
retrievers in the sample, c is about 3.3 and about a dozen images judged b are needed
before errors alone are ruled out (hence the toy dogs' 1,000 held out per breed).
``benchmarks/extinction_test.py`` measures the false-alarm rate and the power by
simulation (docs/metrics.md, "Detectability").

``eval.detection_floor``, when set, keeps the earlier rule instead: a breed is detectable
while its share is at least that floor (and it has a sample).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
import torch
from scipy.stats import nbinom

from imagelab.metrics.metric import (
    METRICS,
    Column,
    GenerationInputs,
    Metric,
    MetricConfig,
    MetricContext,
    per_breed,
)


def judged_counts(labels: torch.Tensor, num_breeds: int) -> torch.Tensor:
    """(K,) samples judged as each breed (unrecognized, label -1, left out)."""
    recognized = labels[labels >= 0].long()
    return torch.bincount(recognized, minlength=num_breeds)[:num_breeds]


@dataclass(frozen=True)
class Detection:
    """One generation's verdict per breed."""

    detectable: torch.Tensor  # (K,) bool: the count is more than errors alone would give
    error_limit: torch.Tensor  # (K,) int64: the largest count errors alone could give (at the test's alpha)


class DetectionRule(Protocol):
    def detect(self, labels: torch.Tensor) -> Detection:
        """The verdict on samples judged as ``labels`` (N,), -1 for unrecognized."""


def errors_only_count(counts: np.ndarray, held_out_errors: np.ndarray,
                      held_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shape and scale (..., K) of each breed's errors-only mean, a gamma; its count is negative binomial.

    ``counts`` (..., K): the samples judged as each breed (y); ``held_out_errors``
    (..., K, K): held-out images of breed a (rows) judged b (columns), the diagonal
    ignored; ``held_out`` (..., K): recognized held-out images per breed (m). Leading
    dimensions broadcast (the simulation in benchmarks/extinction_test.py tests many
    draws at once). Exposure c_ab = (y_a + y_b) / m_a; the mean's moments are
    sum_a c_ab x_ab plus one pseudo-error at the largest exposure (its variance
    likewise), matched to a gamma (Fay and Feuer 1997). Shape 0: no other breed can send
    errors; scale inf: one that can was never seen held out.
    """
    counts = np.asarray(counts, dtype=np.float64)
    k = counts.shape[-1]
    errors = np.array(held_out_errors, dtype=np.float64)
    errors[..., np.arange(k), np.arange(k)] = 0.0  # a breed is no source of its own false positives
    exposure = counts[..., :, None] + counts[..., None, :]  # (..., a, b): n_a as estimated under H0_b
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(exposure > 0, exposure / np.asarray(held_out, dtype=np.float64)[..., :, None], 0.0)
    ratio[..., np.arange(k), np.arange(k)] = 0.0
    largest = ratio.max(-2) if k else ratio.sum(-2)  # (..., b): the pseudo-error's exposure
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(errors > 0, ratio * errors, 0.0).sum(-2) + largest
        variance = np.where(errors > 0, ratio**2 * errors, 0.0).sum(-2) + largest**2
        shape = np.where(variance > 0, mean**2 / variance, 0.0)
        scale = np.where(mean > 0, variance / mean, 0.0)
    unseen = np.isinf(largest)
    return np.where(unseen, 1.0, shape), np.where(unseen, np.inf, scale)


def errors_only_limit(shape: np.ndarray, scale: np.ndarray, alpha: float, cap: np.ndarray) -> np.ndarray:
    """The (1 - alpha) quantile of the errors-only count (negative binomial); ``cap`` where the scale is inf."""
    finite = np.isfinite(scale) & (shape > 0)
    quantile = nbinom.ppf(1 - alpha, np.where(finite, shape, 1.0), 1 / (1 + np.where(finite, scale, 0.0)))
    limits = np.where(finite, quantile, 0.0)
    return np.where(np.isinf(scale), cap, limits).astype(np.int64)


class ErrorsOnlyTest:
    """The test above, from the judge's held-out confusion (K, K + 1): rows truth; columns judged, unrecognized."""

    def __init__(self, confusion: torch.Tensor, alpha: float) -> None:
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        k = confusion.shape[0]
        if confusion.shape != (k, k + 1):
            raise ValueError(f"confusion must be (K, K + 1) counts, got shape {tuple(confusion.shape)}")
        self.alpha = alpha
        self.held_out_errors = confusion[:, :k].long().numpy()  # (a, b) held-out images of a judged b
        self.held_out = self.held_out_errors.sum(1)  # (K,) m_a: recognized held-out images of each breed

    def error_limits(self, counts: np.ndarray) -> np.ndarray:
        """(K,) the most images errors alone would name as each breed, given the sample's judged ``counts``."""
        counts = np.asarray(counts, dtype=np.int64)
        shape, scale = errors_only_count(counts, self.held_out_errors, self.held_out)
        return errors_only_limit(shape, scale, self.alpha, cap=np.full(len(counts), counts.sum()))

    def p_values(self, counts: np.ndarray) -> np.ndarray:
        """(K,) P(errors alone name at least y_b images as b) for each judged count y_b (1 for a count of 0)."""
        counts = np.asarray(counts, dtype=np.int64)
        shape, scale = errors_only_count(counts, self.held_out_errors, self.held_out)
        finite = np.isfinite(scale) & (shape > 0)
        tail = nbinom.sf(counts - 1, np.where(finite, shape, 1.0), 1 / (1 + np.where(finite, scale, 0.0)))
        p = np.where(finite, tail, np.where(np.isinf(scale), 1.0, 0.0))
        return np.where(counts > 0, p, 1.0)

    def detect(self, labels: torch.Tensor) -> Detection:
        counts = judged_counts(labels.cpu(), len(self.held_out)).numpy()
        limits = self.error_limits(counts)
        return Detection(torch.from_numpy(counts > limits), torch.from_numpy(limits))


class FloorRule:
    """The earlier rule (``eval.detection_floor``): detectable while the share is at least the floor, and above 0."""

    def __init__(self, floors: torch.Tensor) -> None:
        self.floors = floors.double()  # (K,) shares

    def detect(self, labels: torch.Tensor) -> Detection:
        counts = judged_counts(labels.cpu(), len(self.floors))
        shares = counts.double() / max(len(labels), 1)
        detectable = (shares >= self.floors) & (counts > 0)
        # the largest count whose share is still below the floor (0 for a floor of 0: one sample is enough),
        # by the same comparison as above, so that the count is detectable exactly when it exceeds the limit
        total = max(len(labels), 1)
        limits = torch.ceil(self.floors * total).long() - 1
        limits = torch.where((limits + 1).double() / total < self.floors, limits + 1, limits)
        limits = torch.where((limits >= 0) & (limits.double() / total >= self.floors), limits - 1, limits)
        return Detection(detectable, limits.clamp(min=0))


def detection_rule(context: MetricContext) -> DetectionRule:
    """The run's rule: the errors-only test, or the common floor when ``eval.detection_floor`` is set."""
    if context.eval.detection_floor is not None:
        floors = [context.detection_floors[breed] for breed in context.breeds]
        return FloorRule(torch.tensor(floors, dtype=torch.float64))
    return ErrorsOnlyTest(context.label_confusion, context.eval.detection_alpha)


@METRICS.register("detectability")
class Detectability(Metric):
    """Per breed, whether its judged count exceeds what the judge's errors alone could give, and that limit."""

    def __init__(self, config: MetricConfig, context: MetricContext) -> None:
        super().__init__(config, context)
        self.rule = detection_rule(context)

    @classmethod
    def columns(cls, config: MetricConfig, breeds: Sequence[str]) -> list[Column]:
        return per_breed("detectable", breeds, "count") + per_breed("error_limit", breeds, "count")

    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        detection = self.rule.detect(inputs.judgement.labels)
        breeds = self.context.breeds
        row = {f"detectable_{b}": int(detection.detectable[i]) for i, b in enumerate(breeds)}
        row.update({f"error_limit_{b}": int(detection.error_limit[i]) for i, b in enumerate(breeds)})
        return row
