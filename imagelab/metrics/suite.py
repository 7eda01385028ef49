"""Every per-generation metric beyond the breed census, behind one call the loop makes.

``GenerationMetrics`` is built once per run from the reference split (real held-out
images with the pool's breed proportions, true labels) and its judge features; the
real-side statistics (FID moments, k-NN radii, per-breed statistics) are computed
there, once. Generation 0 (the real pool) then sets the baseline of the relative
metrics (``set_baseline``), and ``measure`` turns each generation's images and
judgement into metrics columns. Names and meanings: README "metrics.csv columns"
and docs/metrics.md.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import torch

from imagelab.data.imageset import ImageSet
from imagelab.errors import ConfigError
from imagelab.judge.judgement import Judgement
from imagelab.metrics.breed_distances import BreedDistances
from imagelab.metrics.breeds import breed_shares
from imagelab.metrics.coverage import RealManifold
from imagelab.metrics.diversity import (
    hill_numbers,
    kl_divergence,
    rarest_breeds,
    relative_within_breed_variance,
    within_breed_variance,
)
from imagelab.metrics.fid import build_fid
from imagelab.seeding import derive_seed


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, then restore the setting.

    The matrices here are small (2,480 x 2,480 distances at the default size): on a
    2-core machine busy with other work, one generation's metrics took 0.5 s wall on
    one thread and 2.7 s on two, the threads spinning against the other load
    (``benchmarks/metrics_speed.py --threads 1`` and ``--threads 2`` without this
    context; docs/metrics.md, Cost).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class GenerationMetrics:
    def __init__(self, breeds: tuple[str, ...], reference: ImageSet, reference_features: torch.Tensor,
                 eval_config, seed: int, device: torch.device | str = "cpu") -> None:
        self.breeds = breeds
        k = eval_config.nearest_k
        if len(reference) <= k:
            raise ConfigError("eval.nearest_k", f"must be below the reference set's size ({len(reference)} images), "
                              f"got {k}")
        self.fid = build_fid(eval_config, reference.images, reference_features, device)
        self.reference_labels = reference.labels.cpu()
        with _one_thread():
            self.manifold = RealManifold(reference_features, k)  # (R,) radii of the real k-NN balls, once
            self.breed_distances = BreedDistances(breeds, reference_features, self.reference_labels,
                                                  seed=derive_seed(seed, "breed_distances"))
        self.tail = rarest_breeds(self.reference_labels, len(breeds), min(eval_config.tail_breeds, len(breeds)))
        self.baseline_shares: torch.Tensor | None = None  # (K,) generation 0's recognized breed shares
        self.baseline_variance: torch.Tensor | None = None  # (K,) generation 0's within-breed feature traces

    def set_baseline(self, judgement: Judgement) -> None:
        """Generation 0 (the real pool) as judged: what KL and the variance ratio compare to."""
        self.baseline_shares = breed_shares(judgement.labels, len(self.breeds))[:-1]
        self.baseline_variance = within_breed_variance(judgement.features, judgement.labels, len(self.breeds))

    def measure(self, images: torch.Tensor, judgement: Judgement) -> dict[str, float]:
        """The columns of one generation: ``fid`` first, then manifold, diversity and per-breed metrics."""
        if self.baseline_shares is None:
            raise RuntimeError("set_baseline(generation 0's judgement) must come before measure")
        row: dict[str, float] = {"fid": self.fid(images, judgement.features.cpu())}  # Inception may want threads
        with _one_thread():
            row.update(self._measure(judgement))
        return row

    def _measure(self, judgement: Judgement) -> dict[str, float]:
        features, labels = judgement.features.cpu(), judgement.labels.cpu()
        row: dict[str, float] = {}
        row.update(self._manifold(features))
        shares = breed_shares(labels, len(self.breeds))  # (K + 1,): breeds, then unrecognized
        row.update(hill_numbers(shares[:-1]))
        row["kl_to_real"] = kl_divergence(shares[:-1], self.baseline_shares) if shares[:-1].sum() > 0 else math.nan
        row["tail_mass"] = float(shares[self.tail].sum())
        traces = within_breed_variance(features, labels, len(self.breeds))
        row["within_breed_variance"] = relative_within_breed_variance(traces, self.baseline_variance)
        row.update(self.breed_distances(features, labels))
        return row

    def _manifold(self, features: torch.Tensor) -> dict[str, float]:
        """Precision, recall, density, coverage; per breed, recall and coverage of that breed's real images."""
        names = ["precision", "recall", "density", "coverage"]
        if len(features) <= self.manifold.nearest_k:  # too few samples for k-NN balls of their own
            row = {name: math.nan for name in names}
            row.update({f"{m}_{b}": math.nan for m in ("coverage", "recall") for b in self.breeds})
            return row
        scores = self.manifold.score(features)
        row = {name: getattr(scores, name) for name in names}
        for metric, hits in (("coverage", scores.real_covered), ("recall", scores.real_recalled)):
            for index, breed in enumerate(self.breeds):
                mine = hits[self.reference_labels == index]
                row[f"{metric}_{breed}"] = float(mine.double().mean()) if len(mine) else math.nan
        return row
