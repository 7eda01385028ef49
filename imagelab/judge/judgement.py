"""A Judgement: what the judge said about each image of a set, from one forward pass."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

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

    def __len__(self) -> int:
        return len(self.labels)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The four tensors by field name (what ``save`` writes)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def map(self, transform: Callable[[torch.Tensor], torch.Tensor]) -> Judgement:
        """The same judgement with ``transform`` applied to each tensor (gather, subset, move to a device)."""
        return Judgement(**{name: transform(tensor) for name, tensor in self.tensors().items()})

    def save(self, path: Path) -> None:
        """Write the tensors as safetensors (CPU, contiguous); ``atomic_write`` hands a temporary path."""
        tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in self.tensors().items()}
        save_file(tensors, str(path))

    @classmethod
    def load(cls, path: Path) -> Judgement:
        return cls(**load_file(str(path)))
