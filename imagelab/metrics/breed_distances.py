"""Per-breed distances between samples and real data: KID and a Fréchet distance, breed by breed.

The real side of breed b is the reference split's images of breed b (true labels);
the sample side is the samples the judge calls b. So these say how good the samples
of a breed look *given* that the judge recognises them as that breed; how many there
are is the census' job.

- KID (Bińkowski et al., ICLR 2018): the unbiased squared MMD with the cubic
  polynomial kernel, from torchmetrics' ``poly_mmd``. It needs equal-size sets, so it
  is averaged over ``KID_SUBSETS`` seeded random subsets of size
  min(real count, sample count, ``KID_MAX_SUBSET``): the subset size adapts to rare
  breeds. NaN while either side has fewer than ``KID_MIN_SAMPLES`` images.
- Fréchet distance (FID's formula on the judge's features, torchmetrics, float64):
  NaN while either side has no more images than feature dimensions, where the
  covariance estimate is singular and the number mostly measures the sample size.
"""

from __future__ import annotations

import math

import torch
from torchmetrics.image.kid import poly_mmd

from imagelab.metrics.fid import FeatureFID
from imagelab.seeding import derive_seed, torch_generator

KID_SUBSETS = 5
KID_MAX_SUBSET = 500
KID_MIN_SAMPLES = 10


def kid(real: torch.Tensor, fake: torch.Tensor, seed: int) -> float:
    """Mean KID of ``KID_SUBSETS`` equal-size random subsets of ``real`` (R, D) and ``fake`` (F, D)."""
    size = min(len(real), len(fake), KID_MAX_SUBSET)
    if size < KID_MIN_SAMPLES:
        return math.nan
    generator = torch_generator(seed)
    values = []
    for _ in range(KID_SUBSETS):
        real_subset = real[torch.randperm(len(real), generator=generator)[:size]].double()
        fake_subset = fake[torch.randperm(len(fake), generator=generator)[:size]].double()
        values.append(float(poly_mmd(real_subset, fake_subset)))
    return sum(values) / len(values)


class BreedDistances:
    """Per-breed KID and Fréchet distance to the reference split, its per-breed statistics kept."""

    def __init__(self, breeds: tuple[str, ...], reference_features: torch.Tensor, reference_labels: torch.Tensor,
                 seed: int) -> None:
        self.breeds = breeds
        self.seed = seed
        self.real = [reference_features[reference_labels == b].float().cpu() for b in range(len(breeds))]
        dimensions = reference_features.shape[1]
        self.min_frechet_samples = dimensions + 1
        # One torchmetrics FID per breed with enough real images; its real statistics are fed once.
        self.frechet = [FeatureFID(real) if len(real) >= self.min_frechet_samples else None for real in self.real]

    def __call__(self, features: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """``kid_<breed>`` and ``frechet_<breed>`` of samples ``features`` (N, D) with judged ``labels`` (N,)."""
        row: dict[str, float] = {}
        for index, breed in enumerate(self.breeds):
            fake = features[labels == index].float().cpu()
            row[f"kid_{breed}"] = kid(self.real[index], fake, seed=derive_seed(self.seed, "kid", index))
            enough = self.frechet[index] is not None and len(fake) >= self.min_frechet_samples
            row[f"frechet_{breed}"] = self.frechet[index](fake) if enough else math.nan
        return row
