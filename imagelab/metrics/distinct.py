"""Distinct images among the samples, overall and per judged breed: copies and near-copies count once.

Shares, coverage and recall do not see copies: three copies of one dachshund are three
dachshunds to the census, and per breed they can reach most of the breed's real k-NN
balls. Here two samples are the same image when their bytes are equal, or when their
judge features lie within ``threshold`` of each other, and chains of such pairs merge
(single linkage): ``distinct`` is the number of groups.

The threshold is calibrated once per run on real images: the ``DUPLICATE_QUANTILE`` (1%)
quantile of the distances from each reference image to its nearest other, byte-distinct,
reference image. So two samples count as one only when they are closer than all but 1%
of real images are to their nearest real neighbour: about 1% of a real set of distinct
images is merged by construction, a copying generator far more.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Sequence

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

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

log = logging.getLogger("imagelab")

DUPLICATE_QUANTILE = 0.01  # of real nearest-neighbour distances: closer than this is a near-copy
CHUNK_ELEMENTS = 4_000_000  # distances held at once (rows x columns): 16 MB of float32


def copy_groups(images: torch.Tensor) -> np.ndarray:
    """(N,) a group id per image of ``images`` (N, C, H, W): equal bytes, equal id (the first such image's index)."""
    first: dict[bytes, int] = {}
    groups = np.empty(len(images), dtype=np.int64)
    pixels = images.cpu().contiguous().numpy()
    for index, image in enumerate(pixels):
        digest = hashlib.blake2b(image.tobytes(), digest_size=16).digest()
        groups[index] = first.setdefault(digest, index)
    return groups


def nearest_distinct_distances(features: torch.Tensor, groups: np.ndarray) -> torch.Tensor:
    """(M,) for one image of each ``groups`` id, the distance to its nearest image of another id."""
    _, first = np.unique(groups, return_index=True)  # one image per byte-identical group
    points = features[torch.from_numpy(first)].float()
    points = points - points.mean(0)  # centred: smaller norms, smaller rounding in the distances
    rows = max(1, CHUNK_ELEMENTS // max(len(points), 1))
    nearest = []
    for start in range(0, len(points), rows):
        distances = torch.cdist(points[start:start + rows], points)  # (chunk, M)
        distances[torch.arange(len(distances)), torch.arange(start, start + len(distances))] = float("inf")
        nearest.append(distances.min(1).values)
    return torch.cat(nearest) if nearest else torch.empty(0)


def duplicate_threshold(features: torch.Tensor, images: torch.Tensor, quantile: float = DUPLICATE_QUANTILE) -> float:
    """The ``quantile`` of real nearest-neighbour distances between byte-distinct images (0 with fewer than 2)."""
    nearest = nearest_distinct_distances(features, copy_groups(images))
    if len(nearest) < 2:
        return 0.0
    return float(torch.quantile(nearest.double(), quantile))


def distinct_count(features: torch.Tensor, groups: np.ndarray, threshold: float) -> int:
    """Groups among the images with ``features`` (N, D): same ``groups`` id, or linked by distances <= threshold.

    Works on the byte-distinct images only, through the distance matrix in row chunks, and
    merges components chunk by chunk, so memory stays at one chunk of distances.
    """
    _, first = np.unique(groups, return_index=True)  # one image per byte-identical group
    if len(first) <= 1:
        return len(first)
    points = features[torch.from_numpy(first)].float()
    points = points - points.mean(0)
    component = np.arange(len(points))  # each point's current component (a point index)
    rows = max(1, CHUNK_ELEMENTS // len(points))
    for start in range(0, len(points), rows):
        close = torch.cdist(points[start:start + rows], points) <= threshold  # (chunk, M); the point itself too
        left, right = (index.numpy() for index in torch.nonzero(close, as_tuple=True))
        if len(left) == 0:
            continue
        # merge the components these pairs connect: components as nodes, the pairs as edges
        a, b = component[left + start], component[right]
        graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(points), len(points)))
        _, merged = connected_components(graph, directed=False)
        component = merged[component]
    return len(np.unique(component))


@METRICS.register("distinct")
class Distinct(Metric):
    """Distinct images among all samples and among those judged as each breed (copies, near-copies count once)."""

    def __init__(self, config: MetricConfig, context: MetricContext) -> None:
        super().__init__(config, context)
        with one_thread():
            self.threshold = duplicate_threshold(context.reference_features.cpu(), context.reference.images)
        log.info(f"distinct images: near-copies within {self.threshold:.4g} in judge features "
                 f"(the {DUPLICATE_QUANTILE:.0%} quantile of real nearest-neighbour distances)")

    @classmethod
    def columns(cls, config: MetricConfig, breeds: Sequence[str]) -> list[Column]:
        return [Column("distinct", style="count", headline=True), *per_breed("distinct", breeds, "count")]

    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        features, labels = inputs.judgement.features.cpu(), inputs.judgement.labels.cpu()
        with one_thread():
            groups = copy_groups(inputs.images.images)
            row = {"distinct": distinct_count(features, groups, self.threshold)}
            for index, breed in enumerate(self.context.breeds):
                mine = torch.nonzero(labels == index).flatten()
                row[f"distinct_{breed}"] = distinct_count(features[mine], groups[mine.numpy()], self.threshold)
        return row
