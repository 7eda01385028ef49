"""Per-breed distances between samples and real data: KID and a Fréchet distance, breed by breed.

The real side of breed b is the reference split's images of breed b (true labels);
the sample side is the samples the judge calls b. So these say how good the samples
of a breed look *given* that the judge recognises them as that breed; how many there
are is the census' job.

- KID (Bińkowski et al., ICLR 2018): the unbiased squared MMD with torchmetrics'
  cubic polynomial kernel (``poly_kernel``: (x·y / D + 1)³). torchmetrics' KID class
  averages equal-size random subsets, which bounds memory on big sets but adds noise
  and, with small breeds, needs subset sizes adapted to the rarest count; here the
  unbiased estimator is taken over *all* images of both sides instead (unequal sizes
  allowed), with each side capped at ``KID_MAX_SAMPLES`` seeded random images. The
  real side's kernel sum is computed once per run. NaN while either side has fewer
  than ``KID_MIN_SAMPLES`` images.
- Fréchet distance (FID's formula on the judge's features, torchmetrics, float64):
  NaN while either side has no more images than feature dimensions, where the
  covariance estimate is singular and the number mostly measures the sample size.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torchmetrics.image.kid import poly_kernel

from imagelab.metrics.fid import FeatureFID
from imagelab.metrics.metric import (
    METRICS,
    Column,
    GenerationInputs,
    Metric,
    MetricConfig,
    MetricContext,
    one_thread,
)
from imagelab.seeding import derive_seed, torch_generator

KID_MAX_SAMPLES = 2000  # per side and breed: kernel matrices of at most 2000 x 2000
KID_MIN_SAMPLES = 10


def _off_diagonal_mean(kernel: torch.Tensor) -> float:
    """Mean of a square kernel matrix without its diagonal (the U-statistic's within-set term)."""
    n = kernel.shape[0]
    return float((kernel.sum() - kernel.diagonal().sum()) / (n * (n - 1)))


def _capped(features: torch.Tensor, seed: int) -> torch.Tensor:
    """At most KID_MAX_SAMPLES rows, a seeded random subset when there are more."""
    if len(features) > KID_MAX_SAMPLES:
        features = features[torch.randperm(len(features), generator=torch_generator(seed))[:KID_MAX_SAMPLES]]
    return features.float()


def _kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(len(a), len(b)) cubic polynomial kernel: float32 products (fast), float64 from there on (the sums)."""
    return poly_kernel(a, b).double()


class BreedKID:
    """KID between one breed's fixed real features and any set of sample features."""

    def __init__(self, real: torch.Tensor, seed: int) -> None:
        self.seed = seed
        self.real = _capped(real, seed)  # (R, D)
        enough = len(self.real) >= KID_MIN_SAMPLES
        self.real_term = _off_diagonal_mean(_kernel(self.real, self.real)) if enough else math.nan

    def __call__(self, fake: torch.Tensor) -> float:
        if len(fake) < KID_MIN_SAMPLES or math.isnan(self.real_term):
            return math.nan
        fake = _capped(fake, self.seed + 1)  # (F, D)
        cross = float(_kernel(self.real, fake).mean())
        return self.real_term + _off_diagonal_mean(_kernel(fake, fake)) - 2 * cross


def kid(real: torch.Tensor, fake: torch.Tensor, seed: int) -> float:
    """KID of ``real`` (R, D) and ``fake`` (F, D): the unbiased MMD² with the cubic polynomial kernel."""
    return BreedKID(real, seed)(fake)


class BreedDistances:
    """Per-breed KID and Fréchet distance to the reference split, its per-breed statistics kept."""

    def __init__(self, breeds: tuple[str, ...], reference_features: torch.Tensor, reference_labels: torch.Tensor,
                 seed: int) -> None:
        self.breeds = breeds
        self.seed = seed
        self.real = [reference_features[reference_labels == b].float().cpu() for b in range(len(breeds))]
        dimensions = reference_features.shape[1]
        self.min_frechet_samples = dimensions + 1
        self.kid = [BreedKID(real, derive_seed(seed, "kid", index)) for index, real in enumerate(self.real)]
        # One torchmetrics FID per breed with enough real images; its real statistics are fed once.
        self.frechet = [FeatureFID(real) if len(real) >= self.min_frechet_samples else None for real in self.real]

    def __call__(self, features: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """``kid_<breed>`` and ``frechet_<breed>`` of samples ``features`` (N, D) with judged ``labels`` (N,)."""
        row: dict[str, float] = {}
        for index, breed in enumerate(self.breeds):
            fake = features[labels == index].float().cpu()
            row[f"kid_{breed}"] = self.kid[index](fake)
            enough = self.frechet[index] is not None and len(fake) >= self.min_frechet_samples
            row[f"frechet_{breed}"] = self.frechet[index](fake) if enough else math.nan
        return row


@METRICS.register("breed_distances")
class PerBreedDistances(Metric):
    """Per breed, KID and Fréchet distance between the samples judged as it and its real reference images."""

    def __init__(self, config: MetricConfig, context: MetricContext) -> None:
        super().__init__(config, context)
        with one_thread():
            self.distances = BreedDistances(context.breeds, context.reference_features,
                                            context.reference.labels.cpu(),
                                            seed=derive_seed(context.seed, "breed_distances"))

    @classmethod
    def columns(cls, config: MetricConfig, breeds: Sequence[str]) -> list[Column]:
        return [Column(f"{family}_{breed}", breed=breed) for breed in breeds for family in ("kid", "frechet")]

    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        with one_thread():
            return self.distances(inputs.judgement.features.cpu(), inputs.judgement.labels.cpu())
