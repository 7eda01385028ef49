"""The tiny generator with one mistake each: what a plugin written in a hurry returns.

Lines that a test expects a message to point at end in ``# raises here: <entry point name>``.
"""

from __future__ import annotations

import torch

from imagelab.plugin import FitReport, Generator, ImageSet, to_uint8
from tests.broken_plugins.tiny import Tiny


class WrongDtype(Tiny):
    """Forgets to_uint8: float32 images in [0, 1]."""

    def sample(self, n: int, *, seed: int) -> ImageSet:
        images, labels = self.draw(n, seed=seed)
        return ImageSet.create((images + 1) / 2, labels)  # raises here: wrong-dtype


class WrongShape(Tiny):
    """Samples at half the data's resolution."""

    def sample(self, n: int, *, seed: int) -> ImageSet:
        images, labels = self.draw(n, seed=seed)
        return ImageSet.create(to_uint8(images[:, :, ::2, ::2]), labels)


class WrongCount(Tiny):
    """Returns half the images asked for."""

    def sample(self, n: int, *, seed: int) -> ImageSet:
        images, labels = self.draw(n // 2, seed=seed)
        return ImageSet.create(to_uint8(images), labels)


class NanLosses(Tiny):
    """Training diverged, and the losses were reported without check_finite."""

    def fit(self, pool: ImageSet, *, seed: int, warm_start: Generator | None = None) -> FitReport:
        super().fit(pool, seed=seed, warm_start=warm_start)
        return FitReport(losses=[float("nan")])


class NanWeights(Tiny):
    """Training left NaN weights behind a finite-looking loss; they would sample all-black images."""

    def fit(self, pool: ImageSet, *, seed: int, warm_start: Generator | None = None) -> FitReport:
        report = super().fit(pool, seed=seed, warm_start=warm_start)
        self.gain = torch.full((1,), float("nan"))
        return report


class AllBlack(Tiny):
    """Samples nothing but black images."""

    def sample(self, n: int, *, seed: int) -> ImageSet:
        made = super().sample(n, seed=seed)
        return ImageSet.create(torch.zeros_like(made.images), made.labels)


class LabelsOutOfRange(Tiny):
    """Labels counted from 1 instead of 0."""

    def sample(self, n: int, *, seed: int) -> ImageSet:
        made = super().sample(n, seed=seed)
        return made.with_labels(made.labels + 1)


class RaisesInFit(Tiny):
    """A plain bug in fit."""

    def fit(self, pool: ImageSet, *, seed: int, warm_start: Generator | None = None) -> FitReport:
        return FitReport(losses=[len(pool) / 0])  # raises here: raises-in-fit
