"""The neutral null: a "generator" that only resamples its training pool.

Drawing ``n`` images uniformly with replacement from the pool is one generation of
a haploid Wright–Fisher population: a breed's count is Binomial(n, p), so breeds
drift and are lost by chance alone, with no bias of any model. Real generators
lose rare breeds much faster; the gap is their own bias (see metrics/theory).
Samples keep their true labels, so the next pool stays labelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from imagelab.data.imageset import ImageSet
from imagelab.generators.base import GENERATORS, DataSpec, FitReport, Generator, GeneratorConfig
from imagelab.seeding import per_sample_randn, sample_seeds


@dataclass
class ResampleConfig(GeneratorConfig):
    """The resampler has no settings of its own."""

    name: str = "resample"


@GENERATORS.register("resample")
class Resample(Generator):
    """Neutral null: draws images uniformly with replacement from its pool (Wright–Fisher drift)."""

    Config = ResampleConfig

    def __init__(self, config: ResampleConfig, data: DataSpec, device: torch.device) -> None:
        super().__init__(config, data, device)
        self.pool: ImageSet | None = None

    def fit(self, pool: ImageSet, *, seed: int, warm_start: Generator | None = None) -> FitReport:
        if len(pool) == 0:
            raise ValueError("the resampler cannot fit an empty pool")
        self.pool = pool
        return FitReport(losses=[0.0])  # nothing is learned; a finite loss keeps logs uniform

    def draw_indices(self, n: int, *, seed: int) -> torch.Tensor:
        """(n,) pool indices; index i is a function of seed and i alone (per-sample seeds)."""
        if self.pool is None:
            raise RuntimeError("the resampler must be fitted (or loaded) before sampling")
        # A uniform number per sample, from the normal CDF of that sample's own normal draw.
        uniform = torch.special.ndtr(per_sample_randn((1,), sample_seeds(seed, n))[:, 0].double())
        return (uniform * len(self.pool)).long().clamp_(max=len(self.pool) - 1)

    def sample(self, n: int, *, seed: int) -> ImageSet:
        pool = self.pool
        index = self.draw_indices(n, seed=seed)
        return ImageSet.create(pool.images[index].clone(), pool.labels[index].clone())

    def state_tensors(self) -> dict[str, torch.Tensor]:
        if self.pool is None:
            raise RuntimeError("the resampler has nothing to save before it is fitted")
        return {"pool.images": self.pool.images, "pool.labels": self.pool.labels}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.pool = ImageSet.create(tensors["pool.images"].cpu(), tensors["pool.labels"].cpu())
