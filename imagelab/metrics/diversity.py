"""How diverse the samples are: Hill numbers of the breed distribution, distances to generation 0,
tail mass, and the spread of features within each breed.

Hill numbers (Hill, Ecology 1973) are "effective numbers of breeds" of order q:
q = 0 counts the breeds present, q = 1 is exp(Shannon entropy), q = 2 is the inverse
Simpson index 1 / sum p². Higher orders weigh common breeds more, so the gap between
them says how uneven the distribution is; all three equal K for K equally common
breeds. Within-breed feature variance follows Shumailov et al. (Nature 2024), whose
recursively trained models lose variance before they lose modes.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from imagelab.metrics.breeds import breed_shares
from imagelab.metrics.metric import (
    METRICS,
    Column,
    GenerationInputs,
    Metric,
    MetricConfig,
    MetricContext,
    one_thread,
)

MIN_BREED_SAMPLES_FOR_VARIANCE = 2  # a covariance needs two points


def hill_numbers(shares: torch.Tensor) -> dict[str, float]:
    """Orders 0, 1 and 2 of the distribution ``shares`` (K,), renormalised to sum 1 (zeros allowed)."""
    total = float(shares.sum())
    if total <= 0:
        return {"hill_richness": 0.0, "hill_shannon": 0.0, "hill_simpson": 0.0}
    p = shares.double() / total
    present = p[p > 0]
    return {
        "hill_richness": float(len(present)),
        "hill_shannon": math.exp(-float((present * present.log()).sum())),
        "hill_simpson": 1.0 / float((present**2).sum()),
    }


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> float:
    """KL(p ‖ q) in nats between two share vectors (each renormalised); inf where p > 0 = q."""
    p, q = p.double() / p.sum(), q.double() / q.sum()
    support = p > 0
    if bool((q[support] == 0).any()):
        return math.inf
    return float((p[support] * (p[support] / q[support]).log()).sum())


def rarest_breeds(reference_labels: torch.Tensor, num_breeds: int, count: int) -> list[int]:
    """The ``count`` breeds with the fewest reference images; among equals, the later breed counts as rarer."""
    counts = torch.bincount(reference_labels, minlength=num_breeds).tolist()
    order = sorted(range(num_breeds), key=lambda b: (counts[b], -b))
    return sorted(order[:count])


def within_breed_variance(features: torch.Tensor, labels: torch.Tensor, num_breeds: int) -> torch.Tensor:
    """(K,) trace of each breed's feature covariance (unbiased), NaN for breeds with fewer than 2 samples.

    ``labels`` are the judge's (-1 = unrecognized, left out). The trace is the total
    variance, the sum of the per-dimension variances, in squared feature units.
    """
    traces = torch.full((num_breeds,), math.nan, dtype=torch.float64)
    for breed in range(num_breeds):
        group = features[labels == breed].double()
        if len(group) >= MIN_BREED_SAMPLES_FOR_VARIANCE:
            traces[breed] = group.var(dim=0).sum()
    return traces


def relative_within_breed_variance(traces: torch.Tensor, baseline: torch.Tensor) -> float:
    """Mean over breeds of trace / generation-0 trace, over breeds measurable in both; NaN if none."""
    ratio = traces / baseline
    valid = torch.isfinite(ratio)
    return float(ratio[valid].mean()) if bool(valid.any()) else math.nan


# --- as metrics columns ------------------------------------------------------------------------


def _recognized_shares(labels: torch.Tensor, num_breeds: int) -> torch.Tensor:
    """(K,) each breed's share of all samples (the unrecognized part left out, not renormalised)."""
    return breed_shares(labels.cpu(), num_breeds)[:-1]


@METRICS.register("hill_numbers")
class HillNumbers(Metric):
    """Effective numbers of breeds of orders 0, 1 and 2 among the recognized samples (Hill 1973)."""

    @classmethod
    def columns(cls, config: MetricConfig, breeds: Sequence[str]) -> list[Column]:
        return [Column("hill_richness", style="count"), Column("hill_shannon"), Column("hill_simpson")]

    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        with one_thread():
            return hill_numbers(_recognized_shares(inputs.judgement.labels, len(self.context.breeds)))


@METRICS.register("kl_to_real")
class KLToReal(Metric):
    """KL divergence (nats) of the recognized breeds' shares to generation 0's (NaN: none recognized)."""

    @classmethod
    def columns(cls, config: MetricConfig, breeds: Sequence[str]) -> list[Column]:
        return [Column("kl_to_real")]

    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        count = len(self.context.breeds)
        with one_thread():
            shares = _recognized_shares(inputs.judgement.labels, count)
            real = _recognized_shares(inputs.real.labels, count)
            return {"kl_to_real": kl_divergence(shares, real) if shares.sum() > 0 else math.nan}


@METRICS.register("tail_mass")
class TailMass(Metric):
    """Share of all samples judged as one of the eval.tail_breeds rarest breeds of the reference split."""

    def __init__(self, config: MetricConfig, context: MetricContext) -> None:
        super().__init__(config, context)
        count = len(context.breeds)
        self.tail = rarest_breeds(context.reference.labels.cpu(), count, min(context.eval.tail_breeds, count))

    @classmethod
    def columns(cls, config: MetricConfig, breeds: Sequence[str]) -> list[Column]:
        return [Column("tail_mass", style="percent")]

    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        with one_thread():
            shares = _recognized_shares(inputs.judgement.labels, len(self.context.breeds))
            return {"tail_mass": float(shares[self.tail].sum())}


@METRICS.register("within_breed_variance")
class WithinBreedVariance(Metric):
    """Mean over breeds of the samples' feature variance within the breed, relative to generation 0's."""

    @classmethod
    def columns(cls, config: MetricConfig, breeds: Sequence[str]) -> list[Column]:
        return [Column("within_breed_variance")]

    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        count = len(self.context.breeds)
        # (K,) generation 0's traces; computed, like the loop always did, with torch's own thread count.
        baseline = within_breed_variance(inputs.real.features, inputs.real.labels, count)
        with one_thread():
            judgement = inputs.judgement
            traces = within_breed_variance(judgement.features.cpu(), judgement.labels.cpu(), count)
            return {"within_breed_variance": relative_within_breed_variance(traces, baseline)}
