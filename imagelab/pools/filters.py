"""Filters: what is kept of a set of images before it trains a generator.

A filter works at one of two stages:

- ``samples``: on one generation's samples, before they join any later pool
  (``confident``, ``rebalance``); it reads the judge's labels and confidences of
  those samples, as stored in ``gen_NNN/judgement.safetensors``;
- ``pool``: on a composed pool, real and synthetic images alike (``provenance``).

A filter returns the indices of the images it keeps (``rebalance`` may repeat
some). Its randomness comes only from the generator it is handed, seeded by the
caller from the run seed, so a resumed run keeps exactly the same images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from imagelab.data.imageset import REAL, UNLABELED, ImageSet
from imagelab.registry import Registry

SAMPLES = "samples"  # applied to each generation's samples before they join a pool
POOL = "pool"  # applied to the composed pool


@dataclass(frozen=True)
class Verdicts:
    """What the judge said about a set of samples (the parts of a Judgement that filters use)."""

    labels: torch.Tensor  # (N,) int64 judged breed, or UNLABELED below the judge's threshold
    confidence: torch.Tensor  # (N,) float maximum softmax probability


@dataclass(frozen=True)
class FilterSettings:
    threshold: float  # confident: minimum judge confidence
    recall: float  # provenance: probability that the detector flags a synthetic image
    false_positive_rate: float  # provenance: probability that it flags a real image
    target_shares: torch.Tensor  # (C,) rebalance: generation-0 breed proportions, summing to 1


Select = Callable[[ImageSet, "Verdicts | None", FilterSettings, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class Filter:
    stage: str  # SAMPLES or POOL
    select: Select  # (images, verdicts or None, settings, generator) -> int64 indices of the images kept


FILTERS: Registry[Filter] = Registry("filter")


def _register(name: str, stage: str) -> Callable[[Select], Select]:
    def decorator(select: Select) -> Select:
        FILTERS.register(name)(Filter(stage, select))
        return select

    return decorator


@_register("none", SAMPLES)
def keep_all(images: ImageSet, verdicts: Verdicts | None, settings: FilterSettings, generator: torch.Generator) -> torch.Tensor:
    return torch.arange(len(images))


@_register("confident", SAMPLES)
def keep_confident(images: ImageSet, verdicts: Verdicts | None, settings: FilterSettings,
                   generator: torch.Generator) -> torch.Tensor:
    """Curation: keep the samples the judge names as a breed with confidence >= the threshold."""
    keep = (verdicts.labels != UNLABELED) & (verdicts.confidence >= settings.threshold)
    return keep.nonzero().flatten()


@_register("rebalance", SAMPLES)
def rebalance(images: ImageSet, verdicts: Verdicts | None, settings: FilterSettings,
              generator: torch.Generator) -> torch.Tensor:
    """Verification with feedback: resample the set toward the generation-0 breed proportions.

    The judge's labels sort the samples by breed; each breed the judge still finds gets
    its generation-0 share of the set's size (renormalised over the breeds still found:
    a breed with no sample cannot be brought back), drawn without replacement while its
    samples last and with replacement beyond. Unrecognized samples are dropped.
    """
    labels = verdicts.labels
    classes = settings.target_shares.numel()
    found = torch.bincount(labels[labels != UNLABELED], minlength=classes)[:classes] > 0
    target = settings.target_shares.double() * found
    if target.sum() == 0:
        return torch.zeros(0, dtype=torch.int64)
    counts = apportion(target / target.sum(), len(images))
    kept = []
    for breed in found.nonzero().flatten().tolist():
        members = (labels == breed).nonzero().flatten()
        wanted = int(counts[breed])
        shuffled = members[torch.randperm(len(members), generator=generator)]
        extra = members[torch.randint(len(members), (max(wanted - len(members), 0),), generator=generator)]
        kept += [shuffled[:wanted], extra]
    return torch.cat(kept)


@_register("provenance", POOL)
def drop_flagged(images: ImageSet, verdicts: Verdicts | None, settings: FilterSettings,
                 generator: torch.Generator) -> torch.Tensor:
    """Data isolation with an imperfect synthetic-content detector (a watermark, say).

    Each synthetic image is flagged with probability ``recall``, each real image with
    probability ``false_positive_rate``; flagged images leave the pool.
    """
    draw = torch.rand(len(images), generator=generator, dtype=torch.float64)
    flag_rate = torch.where(images.provenance == REAL, settings.false_positive_rate, settings.recall)
    return (draw >= flag_rate).nonzero().flatten()


def apportion(shares: torch.Tensor, total: int) -> torch.Tensor:
    """Integer counts summing to ``total`` in proportion to ``shares`` (largest remainders get the rest)."""
    exact = shares.double() * total
    counts = exact.floor().long()
    remainder = total - int(counts.sum())
    if remainder > 0:
        counts[torch.argsort(exact - counts, descending=True, stable=True)[:remainder]] += 1
    return counts
