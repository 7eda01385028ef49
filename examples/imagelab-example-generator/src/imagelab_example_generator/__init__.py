"""pixel-gaussian: a per-breed, per-pixel Gaussian, the smallest complete imagelab generator."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from imagelab.data.imageset import ImageSet, to_uint8
from imagelab.generators import DataSpec, FitReport, Generator, GeneratorConfig
from imagelab.generators.base import check_finite
from imagelab.seeding import per_sample_randn, sample_seeds


@dataclass
class PixelGaussianConfig(GeneratorConfig):
    name: str = "pixel-gaussian"
    # Multiplies each pixel's standard deviation when sampling: 1 = the fitted spread, < 1 = truncation.
    spread: float = field(default=1.0, metadata={"min": 0.0})


class PixelGaussian(Generator):
    """Per-breed, per-pixel Gaussian (an example plugin; samples are blurry breed averages)."""

    Config = PixelGaussianConfig
    config: PixelGaussianConfig

    def __init__(self, config: PixelGaussianConfig, data: DataSpec, device: torch.device) -> None:
        super().__init__(config, data, device)
        self.weights: torch.Tensor | None = None  # (C,) share of each breed in the training pool
        self.means: torch.Tensor | None = None  # (C, 3, R, R) in [-1, 1]
        self.stds: torch.Tensor | None = None  # (C, 3, R, R)

    def fit(self, pool: ImageSet, *, seed: int, warm_start: Generator | None = None) -> FitReport:
        images, labels = pool.as_float(), pool.labels.clamp(min=0)  # unlabelled images count as breed 0
        classes = self.data.num_classes
        counts = torch.bincount(labels, minlength=classes)[:classes].double()
        size = images.shape[1:]
        self.means, self.stds = torch.zeros(classes, *size), torch.ones(classes, *size)
        for breed in range(classes):
            members = images[labels == breed]
            if len(members):
                self.means[breed] = members.mean(0)
                self.stds[breed] = members.std(0, correction=0)
        self.weights = counts / counts.sum()
        # The "loss": mean squared distance of the pool to its breed means (finite, for the logs).
        loss = check_finite((images - self.means[labels]).square().mean(), "pixel-gaussian fit")
        return FitReport(losses=[loss])

    def sample(self, n: int, *, seed: int) -> ImageSet:
        if self.weights is None:
            raise RuntimeError("pixel-gaussian must be fitted (or loaded) before sampling")
        size = tuple(self.means.shape[1:])
        # Row i: its first normal draw picks the breed (through the normal CDF), the rest are its pixels.
        noise = per_sample_randn((1 + self.means[0].numel(),), sample_seeds(seed, n))
        uniform = torch.special.ndtr(noise[:, 0].double())
        cumulative = torch.cumsum(self.weights, 0)
        breeds = torch.searchsorted(cumulative / cumulative[-1], uniform, right=True).clamp_(max=len(cumulative) - 1)
        pixels = self.means[breeds] + self.config.spread * self.stds[breeds] * noise[:, 1:].view(n, *size)
        return ImageSet.create(to_uint8(pixels.clamp(-1, 1)), breeds)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        if self.weights is None:
            raise RuntimeError("pixel-gaussian has nothing to save before it is fitted")
        return {"weights": self.weights, "means": self.means, "stds": self.stds}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.weights, self.means, self.stds = (tensors[k].cpu() for k in ("weights", "means", "stds"))
