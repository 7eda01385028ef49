"""ImageSet: the unit of data that travels through the lab.

Images are uint8 tensors (N, 3, H, W) in [0, 255]; each image carries an integer
breed label (``UNLABELED`` when the generator does not know it) and a provenance
tag: 0 for real data, g >= 1 for images sampled by generation g. PNG files are
for people; the loop itself reads and writes ImageSets as safetensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

UNLABELED = -1  # label of an image whose breed is not known to its maker
REAL = 0  # provenance of real images; generation g >= 1 tags its own samples


@dataclass(frozen=True)
class ImageSet:
    images: torch.Tensor  # (N, 3, H, W) uint8
    labels: torch.Tensor  # (N,) int64, breed index or UNLABELED
    provenance: torch.Tensor  # (N,) int64, REAL or the generation that made the image

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be uint8 (N, 3, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        n = self.images.shape[0]
        if self.labels.shape != (n,) or self.provenance.shape != (n,):
            raise ValueError(f"labels and provenance must have shape ({n},)")

    @classmethod
    def create(cls, images: torch.Tensor, labels: torch.Tensor | None = None, provenance: int = REAL) -> ImageSet:
        """Wrap images, with unknown labels unless given and one provenance tag for all."""
        n = images.shape[0]
        if labels is None:
            labels = torch.full((n,), UNLABELED, dtype=torch.int64)
        return cls(images, labels.to(torch.int64), torch.full((n,), provenance, dtype=torch.int64))

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def resolution(self) -> int:
        return self.images.shape[-1]

    def subset(self, index: torch.Tensor | slice) -> ImageSet:
        return ImageSet(self.images[index], self.labels[index], self.provenance[index])

    def with_labels(self, labels: torch.Tensor) -> ImageSet:
        return ImageSet(self.images, labels.to(torch.int64), self.provenance)

    @staticmethod
    def concat(sets: list[ImageSet]) -> ImageSet:
        return ImageSet(
            torch.cat([s.images for s in sets]),
            torch.cat([s.labels for s in sets]),
            torch.cat([s.provenance for s in sets]),
        )

    def label_counts(self, num_classes: int) -> torch.Tensor:
        """Images per breed, (num_classes,); UNLABELED images are not counted."""
        known = self.labels[self.labels >= 0]
        return torch.bincount(known, minlength=num_classes)[:num_classes]

    def as_float(self) -> torch.Tensor:
        """Images in [-1, 1] as float32, the range generators and the judge work in."""
        return self.images.float().div_(127.5).sub_(1.0)

    def save(self, path: Path) -> None:
        tensors = {"images": self.images.contiguous(), "labels": self.labels, "provenance": self.provenance}
        save_file({k: v.cpu() for k, v in tensors.items()}, str(path))

    @classmethod
    def load(cls, path: Path) -> ImageSet:
        t = load_file(str(path))
        return cls(t["images"], t["labels"], t["provenance"])


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] -> uint8 in [0, 255] (rounded, clamped)."""
    return images.add(1.0).mul(127.5).round_().clamp_(0, 255).to(torch.uint8)
