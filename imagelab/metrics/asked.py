"""How often the judge names the breed a generator was asked to draw (conditional generators)."""

from __future__ import annotations

import math
from typing import Sequence

import torch

from imagelab.data.imageset import UNLABELED
from imagelab.metrics.metric import (
    METRICS,
    Column,
    GenerationInputs,
    Metric,
    MetricConfig,
)


def judged_as_asked(asked: torch.Tensor, judged: torch.Tensor) -> float:
    """Share of the images with a requested breed (``asked`` >= 0) that the judge names as that breed.

    ``asked`` and ``judged`` are (N,) breed indices, UNLABELED (-1) for "none asked" and
    "unrecognized". NaN when no image has a requested breed (unconditional generators).
    """
    requested = asked != UNLABELED
    if not bool(requested.any()):
        return math.nan
    return float((judged[requested] == asked[requested]).double().mean())


@METRICS.register("judged_as_asked")
class JudgedAsAsked(Metric):
    """Share of the samples with a requested breed that the judge names as it (NaN: none requested)."""

    @classmethod
    def columns(cls, config: MetricConfig, breeds: Sequence[str]) -> list[Column]:
        return [Column("judged_as_asked", style="percent")]

    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        return {"judged_as_asked": judged_as_asked(inputs.images.labels.cpu(), inputs.judgement.labels.cpu())}
