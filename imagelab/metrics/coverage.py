"""Precision, recall, density and coverage: k-nearest-neighbour manifolds in feature space.

Each point's k-NN ball (radius = distance to its k-th nearest neighbour in its own
set, itself excluded) stands for the patch of the data manifold around it
(Kynkäänniemi et al., NeurIPS 2019, "Improved Precision and Recall Metric for
Assessing Generative Models"; Naeem et al., ICML 2020, "Reliable Fidelity and
Diversity Metrics for Generative Models"). With R real and F fake points:

- precision: share of fake points inside at least one real ball (fidelity);
- recall: share of real points inside at least one fake ball (diversity);
- density: mean number of real balls holding a fake point, divided by k
  (about 1 when fake points are spread like real ones);
- coverage: share of real points whose own ball holds at least one fake point
  (diversity, robust to fake outliers, which inflate recall).

Recall and coverage are means over real points, so restricting the mean to the
real points of one breed gives that breed's recall and coverage: how much of the
breed the samples still reach, without trusting the judge's labels of the samples.

The definitions, strict ``<`` included, follow the reference ``prdc`` package
(clovaai/generative-evaluation-prdc); this version computes every distance (no
approximate search) in torch, float32 through matrix products (fast; a squared
distance carries a rounding error of about 1e-7 of the squared feature norms, which
only matters for points within that of a ball's edge), and works through the real
side in row chunks, so memory stays at ``chunk x max(R, F)`` distances rather than
``R x F``. Features are centred on the real mean first, which keeps the norms, and
so that rounding error, small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from imagelab.errors import ConfigError
from imagelab.metrics.metric import (
    METRICS,
    Column,
    GenerationInputs,
    Metric,
    MetricConfig,
    MetricContext,
    one_thread,
    per_breed,
)

CHUNK_ROWS = 2048  # rows of a distance matrix held at once: 2048 x 10,000 float32 = 80 MB


def knn_radii(features: torch.Tensor, nearest_k: int, chunk_rows: int = CHUNK_ROWS) -> torch.Tensor:
    """(N,) distance from each point of ``features`` (N, D) to its k-th nearest other point."""
    count = features.shape[0]
    if not 1 <= nearest_k < count:
        raise ValueError(f"nearest_k must be between 1 and {count - 1} for {count} points, got {nearest_k}")
    points = features.float()
    radii = []
    for start in range(0, count, chunk_rows):
        distances = torch.cdist(points[start:start + chunk_rows], points)  # (chunk, N), the point itself at 0
        radii.append(distances.topk(nearest_k + 1, dim=1, largest=False).values[:, -1])
    return torch.cat(radii)


@dataclass
class ManifoldScores:
    precision: float
    recall: float
    density: float
    coverage: float
    real_recalled: torch.Tensor  # (R,) bool: real point inside some fake ball
    real_covered: torch.Tensor  # (R,) bool: real point's own ball holds a fake point


class RealManifold:
    """The real side, with its k-NN radii computed once and reused for every generation."""

    def __init__(self, features: torch.Tensor, nearest_k: int, chunk_rows: int = CHUNK_ROWS) -> None:
        self.centre = features.float().cpu().mean(0)  # (D,): distances are computed on centred features
        self.features = features.float().cpu() - self.centre
        self.nearest_k = nearest_k
        self.chunk_rows = chunk_rows
        self.radii = knn_radii(self.features, nearest_k, chunk_rows)  # (R,)

    def score(self, fake_features: torch.Tensor) -> ManifoldScores:
        """Precision, recall, density and coverage of ``fake_features`` (F, D), F > nearest_k."""
        fake = fake_features.float().cpu() - self.centre
        fake_radii = knn_radii(fake, self.nearest_k, self.chunk_rows)  # (F,)
        inside_real_balls = torch.zeros(len(fake), dtype=torch.int64)  # per fake point: real balls holding it
        recalled, covered = [], []
        for start in range(0, len(self.features), self.chunk_rows):
            distances = torch.cdist(self.features[start:start + self.chunk_rows], fake)  # (chunk, F)
            within = distances < self.radii[start:start + self.chunk_rows, None]
            inside_real_balls += within.sum(0)
            covered.append(within.any(1))
            recalled.append((distances < fake_radii[None, :]).any(1))
        real_recalled, real_covered = torch.cat(recalled), torch.cat(covered)
        return ManifoldScores(
            precision=float((inside_real_balls > 0).double().mean()),
            recall=float(real_recalled.double().mean()),
            density=float(inside_real_balls.double().mean() / self.nearest_k),
            coverage=float(real_covered.double().mean()),
            real_recalled=real_recalled,
            real_covered=real_covered,
        )


@METRICS.register("prdc")
class PrecisionRecallDensityCoverage(Metric):
    """k-NN precision, recall, density and coverage of the reference split; per breed, recall and coverage."""

    OVERALL = ("precision", "recall", "density", "coverage")

    def __init__(self, config: MetricConfig, context: MetricContext) -> None:
        super().__init__(config, context)
        k = context.eval.nearest_k
        if len(context.reference) <= k:
            raise ConfigError("eval.nearest_k", f"must be below the reference set's size "
                              f"({len(context.reference)} images), got {k}")
        self.reference_labels = context.reference.labels.cpu()  # (R,) true breeds
        with one_thread():
            self.manifold = RealManifold(context.reference_features, k)  # the real k-NN balls' radii, once

    @classmethod
    def columns(cls, config: MetricConfig, breeds: Sequence[str]) -> list[Column]:
        overall = [Column(name, headline=name == "coverage") for name in cls.OVERALL]
        return overall + per_breed("coverage", breeds) + per_breed("recall", breeds)

    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        breeds = self.context.breeds
        features = inputs.judgement.features.cpu()
        if len(features) <= self.manifold.nearest_k:  # too few samples for k-NN balls of their own
            return {column.name: math.nan for column in self.columns(self.config, breeds)}
        with one_thread():
            scores = self.manifold.score(features)
            row = {name: getattr(scores, name) for name in self.OVERALL}
            for metric, hits in (("coverage", scores.real_covered), ("recall", scores.real_recalled)):
                for index, breed in enumerate(breeds):
                    mine = hits[self.reference_labels == index]  # this breed's real images: reached or not
                    row[f"{metric}_{breed}"] = float(mine.double().mean()) if len(mine) else math.nan
        return row
