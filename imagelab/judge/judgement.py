"""A Judgement: what the judge said about each image of a set, from one forward pass."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from imagelab.data.imageset import UNLABELED


@dataclass
class Judgement:
    labels: torch.Tensor  # (N,) int64 breed index, or UNLABELED (-1) when confidence < threshold
    predicted: torch.Tensor  # (N,) int64 most likely breed, whatever the confidence
    confidence: torch.Tensor  # (N,) float32 maximum softmax probability
    features: torch.Tensor  # (N, D) float32 penultimate (pre-logits) features

    @property
    def recognized(self) -> torch.Tensor:
        return self.labels != UNLABELED
