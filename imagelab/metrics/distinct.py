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


def _merge(component: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``component`` (M,) after joining the components of each pair (left[i], right[i])."""
    if len(left) == 0:
        return component
    a, b = component[left], component[right]  # components as nodes, the pairs as edges between them
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(component), len(component)))
    _, merged = connected_components(graph, directed=False)
    return merged[component]


def distinct_counts(features: torch.Tensor, groups: np.ndarray, labels: torch.Tensor, threshold: float,
                    num_breeds: int) -> tuple[int, list[int]]:
    """Distinct images overall, and among the images of each label 0..num_breeds-1.

    Images are one when they share a ``groups`` id (equal bytes) or are linked by a chain
    of feature distances <= ``threshold``; per label, only chains within that label
    count. An image's label is its first copy's. Works on one image per id, through the
    upper triangle of the distance matrix in row chunks, merging components chunk by
    chunk, so memory stays at one chunk of distances.
    """
    _, first = np.unique(groups, return_index=True)  # one image per byte-identical group
    points = features[torch.from_numpy(first)].float()
    points = points - points.mean(0) if len(points) else points  # centred: smaller rounding in the distances
    node_labels = labels.cpu().numpy()[first]
    overall, within = np.arange(len(points)), np.arange(len(points))  # each node's component (a node index)
    rows = max(1, CHUNK_ELEMENTS // max(len(points), 1))
    for start in range(0, len(points), rows):
        close = torch.cdist(points[start:start + rows], points[start:]) <= threshold  # (chunk, M - start)
        left, right = (index.numpy() + start for index in torch.nonzero(close, as_tuple=True))
        pair = left < right  # each pair once, no point with itself
        left, right = left[pair], right[pair]
        overall = _merge(overall, left, right)
        same = node_labels[left] == node_labels[right]
        within = _merge(within, left[same], right[same])
    per_label = [len(np.unique(within[node_labels == label])) for label in range(num_breeds)]
    return len(np.unique(overall)), per_label


def distinct_count(features: torch.Tensor, groups: np.ndarray, threshold: float) -> int:
    """Distinct images among all of ``features`` (N, D): same ``groups`` id, or linked by distances <= threshold."""
    return distinct_counts(features, groups, torch.zeros(len(features), dtype=torch.int64), threshold, 0)[0]


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
        breeds = self.context.breeds
        with one_thread():
            groups = copy_groups(inputs.images.images)
            overall, per_breed = distinct_counts(inputs.judgement.features.cpu(), groups, inputs.judgement.labels,
                                                 self.threshold, len(breeds))
        return {"distinct": overall, **{f"distinct_{b}": per_breed[i] for i, b in enumerate(breeds)}}
