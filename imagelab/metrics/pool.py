"""The training pool a generation learnt from: its size and its share of real images."""

from __future__ import annotations

from typing import Sequence

from imagelab.metrics.metric import (
    METRICS,
    Column,
    GenerationInputs,
    Metric,
    MetricConfig,
)
from imagelab.pools.regimes import pool_composition


@METRICS.register("pool")
class PoolComposition(Metric):
    """Size of the pool the generator learnt from and its real images' share (generation 0: the real pool)."""

    @classmethod
    def columns(cls, config: MetricConfig, breeds: Sequence[str]) -> list[Column]:
        return [Column("pool_size", style="count"),
                Column("pool_real_share", "real in pool", "percent", headline=True)]

    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        return pool_composition(inputs.pool)
