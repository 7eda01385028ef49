"""Extinction: the generation from which a breed stays below its detection floor to the end of the run."""

from __future__ import annotations

import math
from typing import Sequence

from imagelab.metrics.breeds import breed_shares
from imagelab.metrics.metric import (
    METRICS,
    Column,
    GenerationInputs,
    Metric,
    MetricConfig,
    per_breed,
)


def extinction_generation(rows: list[dict], breed: str, floor: float) -> int | None:
    """First generation from which ``breed`` stays below the detection floor to the end, if any."""
    below = [row[f"share_{breed}"] < floor or row[f"share_{breed}"] == 0 for row in rows]
    if not below[-1]:
        return None
    first = len(below) - 1
    while first > 0 and below[first - 1]:
        first -= 1
    return int(rows[first]["generation"])


def extinctions(rows: list[dict], floors: dict[str, float]) -> dict[str, int | None]:
    """Each breed's extinction generation under its own detection floor (None: alive at the end).

    Only rows that hold the breed's share count, so a damaged run folder's report still works.
    """
    found = {}
    for breed, floor in floors.items():
        measured = [row for row in rows if f"share_{breed}" in row]
        found[breed] = extinction_generation(measured, breed, floor) if measured else None
    return found


@METRICS.register("extinct_since")
class ExtinctSince(Metric):
    """Per breed, the generation from which it has stayed below its detection floor up to now (NaN: alive)."""

    @classmethod
    def columns(cls, config: MetricConfig, breeds: Sequence[str]) -> list[Column]:
        return per_breed("extinct_since", breeds, "count")

    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        breeds = self.context.breeds
        shares = breed_shares(inputs.judgement.labels, len(breeds))
        now = {f"share_{b}": float(shares[i]) for i, b in enumerate(breeds)}
        now["generation"] = inputs.generation
        lost = extinctions([*inputs.earlier_rows, now], self.context.detection_floors)
        return {f"extinct_since_{b}": math.nan if g is None else g for b, g in lost.items()}
