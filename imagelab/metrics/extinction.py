"""Extinction: the generation from which a breed stays undetectable to the end of the run.

"Extinct" means undetectable: the breed's judged count is consistent with the judge's
errors alone (``detectability.py``; a row's ``detectable_<breed>``). Rows of a run folder
written before that column existed are read by the share floor they were measured with.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from imagelab.metrics.breeds import breed_shares
from imagelab.metrics.detectability import detection_rule
from imagelab.metrics.metric import (
    METRICS,
    Column,
    GenerationInputs,
    Metric,
    MetricConfig,
    MetricContext,
    per_breed,
)


def undetectable(row: dict[str, Any], breed: str, floor: float) -> bool:
    """Whether ``row`` finds ``breed`` undetectable: its ``detectable_<breed>``, else its share below ``floor``."""
    verdict = row.get(f"detectable_{breed}")
    if verdict is not None and not (isinstance(verdict, float) and math.isnan(verdict)):
        return not verdict
    share = row[f"share_{breed}"]
    return share < floor or share == 0


def extinction_generation(rows: list[dict], breed: str, floor: float) -> int | None:
    """First generation from which ``breed`` stays undetectable to the end, if any (``floor``: for older rows)."""
    below = [undetectable(row, breed, floor) for row in rows]
    if not below[-1]:
        return None
    first = len(below) - 1
    while first > 0 and below[first - 1]:
        first -= 1
    return int(rows[first]["generation"])


def extinctions(rows: list[dict], floors: dict[str, float]) -> dict[str, int | None]:
    """Each breed's extinction generation (None: detectable at the end); ``floors`` judge rows without a verdict.

    Only rows that hold the breed's share count, so a damaged run folder's report still works.
    """
    found = {}
    for breed, floor in floors.items():
        measured = [row for row in rows if f"share_{breed}" in row]
        found[breed] = extinction_generation(measured, breed, floor) if measured else None
    return found


@METRICS.register("extinct_since")
class ExtinctSince(Metric):
    """Per breed, the generation from which it has stayed undetectable up to now (NaN: detectable now)."""

    def __init__(self, config: MetricConfig, context: MetricContext) -> None:
        super().__init__(config, context)
        self.rule = detection_rule(context)

    @classmethod
    def columns(cls, config: MetricConfig, breeds: Sequence[str]) -> list[Column]:
        return per_breed("extinct_since", breeds, "count")

    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        breeds = self.context.breeds
        detectable = self.rule.detect(inputs.judgement.labels).detectable
        now: dict[str, Any] = {f"detectable_{b}": bool(detectable[i]) for i, b in enumerate(breeds)}
        shares = breed_shares(inputs.judgement.labels, len(breeds))
        now.update({f"share_{b}": float(shares[i]) for i, b in enumerate(breeds)})
        now["generation"] = inputs.generation
        lost = extinctions([*inputs.earlier_rows, now], self.context.detection_floors)
        return {f"extinct_since_{b}": math.nan if g is None else g for b, g in lost.items()}
