"""A correct, trivial plugin generator: it redraws pool images by per-sample seeds, through a float weight.

The weight (``gain``, 1.0) does nothing to the images but gives the broken variants
somewhere to put NaN weights; drawing goes through [-1, 1] floats and ``to_uint8`` as a
real generator's would.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from imagelab.plugin import (
    DataSpec,
    FitReport,
    Generator,
    GeneratorConfig,
    ImageSet,
    per_sample_randn,
    sample_seeds,
    to_uint8,
)


@dataclass
class TinyConfig(GeneratorConfig):
    """No settings: every variant shares this config, so a fixed plugin resumes a broken one's run."""

    name: str = "tiny"


class Tiny(Generator):
    """Redraws its pool's images uniformly with replacement (a Wright-Fisher step), through a unit gain."""

    Config = TinyConfig

    def __init__(self, config: TinyConfig, data: DataSpec, device: torch.device) -> None:
        super().__init__(config, data, device)
        self.pool: ImageSet | None = None
        self.gain = torch.ones(1)

    def fit(self, pool: ImageSet, *, seed: int, warm_start: Generator | None = None) -> FitReport:
        self.pool = pool
        return FitReport(losses=[0.0])

    def draw(self, n: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, 3, H, W) floats in [-1, 1] and (n,) labels; image i depends on seed and i alone."""
        uniform = torch.special.ndtr(per_sample_randn((1,), sample_seeds(seed, n))[:, 0].double())
        index = (uniform * len(self.pool)).long().clamp_(max=len(self.pool) - 1)
        return self.pool.as_float()[index] * self.gain, self.pool.labels[index]

    def sample(self, n: int, *, seed: int) -> ImageSet:
        images, labels = self.draw(n, seed=seed)
        return ImageSet.create(to_uint8(images), labels)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"pool.images": self.pool.images, "pool.labels": self.pool.labels, "gain": self.gain}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.pool = ImageSet.create(tensors["pool.images"].cpu(), tensors["pool.labels"].cpu())
        self.gain = tensors["gain"].cpu()
