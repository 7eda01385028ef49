"""Filters: what is kept of a set of images before it trains a generator.

A filter is a class registered in ``FILTERS`` (built in with ``@FILTERS.register("name")``,
from the entry-point group ``imagelab.filters``, or as ``loop.filter=package.module:Class``).
It brings its settings as a ``Config`` dataclass, read from the ``filter`` section of the
run config, and works at one of two stages, its ``stage``:

- ``samples``: on one generation's samples, before they join any later pool
  (``confident``, ``rebalance``); it reads the judge's Judgement of those samples
  (labels, confidences, features), as stored in ``gen_NNN/judgement.safetensors``;
- ``pool``: on a composed pool, real and synthetic images alike (``provenance``);
  there is no Judgement of a pool, so it receives None.

``select`` returns the indices of the images it keeps (``rebalance`` may repeat some).
Its randomness comes only from the generator it is handed, seeded by the caller from
the run seed, so a resumed run keeps exactly the same images. A samples filter must
depend only on the set, its Judgement, the real shares and that generator: a set is
filtered once per pool it joins, and must lose the same images every time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

from imagelab.config_fields import bounded
from imagelab.data.imageset import REAL, UNLABELED, ImageSet
from imagelab.judge.judgement import Judgement
from imagelab.registry import Registry, first_docstring_line

SAMPLES = "samples"  # applied to each generation's samples before they join a pool
POOL = "pool"  # applied to the composed pool
STAGES = (SAMPLES, POOL)


@dataclass
class FilterConfig:
    """The ``filter`` section of the run config; a filter with settings derives its ``Config`` from it."""


class Filter(ABC):
    """Keeps part of a set of images; built from its Config once per composed pool."""

    Config: ClassVar[type[FilterConfig]] = FilterConfig
    stage: ClassVar[str] = SAMPLES

    def __init__(self, config: FilterConfig) -> None:
        self.config = config

    @abstractmethod
    def select(self, images: ImageSet, judgement: Judgement | None, *, real_shares: torch.Tensor,
               generator: torch.Generator) -> torch.Tensor:
        """int64 indices of the ``images`` kept.

        ``judgement``: the judge on ``images`` (samples stage) or None (pool stage);
        ``real_shares``: (C,) float64 breed proportions of the real pool (generation 0).
        """

    @classmethod
    def describe(cls) -> str:
        """One line: the first of the class docstring."""
        return first_docstring_line(cls)


FILTERS: Registry[type[Filter]] = Registry("filter", entry_point_group="imagelab.filters")


@FILTERS.register("none")
class KeepAll(Filter):
    """Keep every image."""

    def select(self, images, judgement, *, real_shares, generator):
        return torch.arange(len(images))


@dataclass
class ConfidentConfig(FilterConfig):
    threshold: float = bounded(0.9, ge=0.0, le=1.0)  # minimum judge confidence (maximum softmax probability)


@FILTERS.register("confident")
class KeepConfident(Filter):
    """Curation: keep the samples the judge names as a breed with confidence >= filter.threshold."""

    Config = ConfidentConfig

    def select(self, images, judgement, *, real_shares, generator):
        keep = (judgement.labels != UNLABELED) & (judgement.confidence >= self.config.threshold)
        return keep.nonzero().flatten()


@FILTERS.register("rebalance")
class Rebalance(Filter):
    """Verification with feedback: resample the set toward the generation-0 breed proportions.

    The judge's labels sort the samples by breed; each breed the judge still finds gets
    its generation-0 share of the set's size (renormalised over the breeds still found:
    a breed with no sample cannot be brought back), drawn without replacement while its
    samples last and with replacement beyond. Unrecognized samples are dropped.
    """

    def select(self, images, judgement, *, real_shares, generator):
        labels = judgement.labels
        classes = real_shares.numel()
        found = torch.bincount(labels[labels != UNLABELED], minlength=classes)[:classes] > 0
        target = real_shares.double() * found
        if target.sum() == 0:
            return torch.zeros(0, dtype=torch.int64)
        counts = apportion(target / target.sum(), len(images))
        kept = []
        for breed in found.nonzero().flatten().tolist():
            members = (labels == breed).nonzero().flatten()
            wanted = int(counts[breed])
            shuffled = members[torch.randperm(len(members), generator=generator)]
            missing = max(wanted - len(members), 0)
            extra = members[torch.randint(len(members), (missing,), generator=generator)]
            kept += [shuffled[:wanted], extra]
        return torch.cat(kept)


@dataclass
class DetectorConfig(FilterConfig):
    detector_recall: float = bounded(0.9, ge=0.0, le=1.0)  # probability that a synthetic image is flagged
    detector_false_positive_rate: float = bounded(0.05, ge=0.0, le=1.0)  # probability that a real one is


@FILTERS.register("provenance")
class DropFlagged(Filter):
    """Data isolation with an imperfect synthetic-content detector (a watermark, say).

    Each synthetic image is flagged with probability ``filter.detector_recall``, each real
    image with probability ``filter.detector_false_positive_rate``; flagged images leave the pool.
    """

    Config = DetectorConfig
    stage = POOL

    def select(self, images, judgement, *, real_shares, generator):
        draw = torch.rand(len(images), generator=generator, dtype=torch.float64)
        flag_rate = torch.where(images.provenance == REAL, self.config.detector_false_positive_rate,
                                self.config.detector_recall)
        return (draw >= flag_rate).nonzero().flatten()


def apportion(shares: torch.Tensor, total: int) -> torch.Tensor:
    """Integer counts summing to ``total`` in proportion to ``shares`` (largest remainders get the rest)."""
    exact = shares.double() * total
    counts = exact.floor().long()
    remainder = total - int(counts.sum())
    if remainder > 0:
        counts[torch.argsort(exact - counts, descending=True, stable=True)[:remainder]] += 1
    return counts
