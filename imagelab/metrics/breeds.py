"""Breed census of a set of judged samples: shares, detectable breeds, diversity, distance to the real pool."""

from __future__ import annotations

import math
from typing import Sequence

import torch

from imagelab.metrics.detectability import DetectionRule, FloorRule, detection_rule
from imagelab.metrics.metric import (
    METRICS,
    Column,
    GenerationInputs,
    Metric,
    MetricConfig,
    MetricContext,
    per_breed,
)


def breed_shares(labels: torch.Tensor, num_breeds: int) -> torch.Tensor:
    """(num_breeds + 1,) shares of all samples: one per breed, the last for unrecognized (label -1)."""
    counts = torch.bincount(labels.clamp(min=-1) + 1, minlength=num_breeds + 1).double()
    counts = torch.cat([counts[1:], counts[:1]])  # move unrecognized (label -1 -> bin 0) to the end
    return counts / max(len(labels), 1)


def total_variation(p: torch.Tensor, q: torch.Tensor) -> float:
    """Total-variation distance between two share vectors (0 = identical, 1 = disjoint)."""
    return 0.5 * float((p - q).abs().sum())


def census(labels: torch.Tensor, breeds: tuple[str, ...], *, detection_floor: float | torch.Tensor | None = None,
           rule: DetectionRule | None = None, real_shares: torch.Tensor | None = None) -> dict[str, float]:
    """The breed columns of a metrics row.

    ``share_<breed>`` and ``share_unrecognized`` sum to 1. ``breeds_alive`` counts the
    detectable breeds: by ``rule`` (the run's, ``detectability.detection_rule``), or by a
    share floor, ``detection_floor`` (one for all, or one per breed: alive while the share
    is at least it and above 0); give exactly one of them.
    ``entropy`` is the Shannon entropy (nats) of the recognized breeds' distribution;
    ``tv_to_real`` the total variation to the generation-0 shares (unrecognized included).
    """
    if (rule is None) == (detection_floor is None):
        raise ValueError("census needs exactly one of rule and detection_floor")
    if rule is None:
        rule = FloorRule(torch.as_tensor(detection_floor, dtype=torch.float64).expand(len(breeds)))
    shares = breed_shares(labels, len(breeds))
    breed_part = shares[:-1]
    row: dict[str, float] = {
        "breeds_alive": int(rule.detect(labels).detectable.sum()),
        "share_unrecognized": float(shares[-1]),
    }
    row.update({f"share_{name}": float(shares[i]) for i, name in enumerate(breeds)})
    recognized = breed_part / breed_part.sum() if breed_part.sum() > 0 else breed_part
    row["entropy"] = -sum(float(p) * math.log(float(p)) for p in recognized if p > 0)
    if real_shares is not None:
        row["tv_to_real"] = total_variation(shares, real_shares)
    return row


# --- as metrics columns ------------------------------------------------------------------------


@METRICS.register("census")
class Census(Metric):
    """Breed shares of all samples, breeds alive (detectable above the judge's errors), entropy."""

    def __init__(self, config: MetricConfig, context: MetricContext) -> None:
        super().__init__(config, context)
        self.rule = detection_rule(context)

    @classmethod
    def columns(cls, config: MetricConfig, breeds: Sequence[str]) -> list[Column]:
        return [Column("breeds_alive", "alive", "count", headline=True),
                Column("share_unrecognized", "unrecognized", "percent", headline=True),
                *per_breed("share", breeds, "percent"),
                Column("entropy", headline=True)]

    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        return census(inputs.judgement.labels, self.context.breeds, rule=self.rule)


@METRICS.register("tv_to_real")
class TVToReal(Metric):
    """Total-variation distance of the breed shares (unrecognized included) to generation 0's."""

    @classmethod
    def columns(cls, config: MetricConfig, breeds: Sequence[str]) -> list[Column]:
        return [Column("tv_to_real", "TV to real", headline=True)]

    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        count = len(self.context.breeds)
        shares = breed_shares(inputs.judgement.labels, count)
        return {"tv_to_real": total_variation(shares, breed_shares(inputs.real.labels, count))}


@METRICS.register("judged")
class Judged(Metric):
    """How many samples the judge saw, and its mean confidence (maximum softmax probability) on them."""

    @classmethod
    def columns(cls, config: MetricConfig, breeds: Sequence[str]) -> list[Column]:
        return [Column("mean_confidence", "confidence", headline=True), Column("samples", style="count")]

    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        judgement = inputs.judgement
        return {"mean_confidence": float(judgement.confidence.mean()), "samples": len(judgement.labels)}
