"""FID on the judge's features, with torchmetrics doing the statistics (float64).

The judge's penultimate features are computed once per image (the same forward
pass also counts breeds), so the feature extractor handed to torchmetrics is a
pass-through and ``update`` receives features, not images. The real side is fed
once and kept (``reset_real_features=False``); each generation resets the fake side.
"""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance


class _PrecomputedFeatures(nn.Module):
    """Stands where torchmetrics expects a feature network: features in, features out."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


class FeatureFID:
    def __init__(self, reference_features: torch.Tensor) -> None:
        self.metric = FrechetInceptionDistance(
            feature=_PrecomputedFeatures(reference_features.shape[1]), reset_real_features=False
        )
        self.metric.update(reference_features.float().cpu(), real=True)

    def __call__(self, features: torch.Tensor) -> float:
        """FID between the reference and ``features`` (N, D); N >= 2."""
        self.metric.reset()
        self.metric.update(features.float().cpu(), real=False)
        return float(self.metric.compute())
