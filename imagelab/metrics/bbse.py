"""What the judge's own errors mean for the counts: corrected shares and detection floors.

A judge with 99.6% held-out accuracy still moves a little mass between breeds, and at
the tail that little is everything: 0.2% of 1,000 golden retrievers called Petit
Basset Griffon Vendéen is as many images as the real PBGVs. Two tools, both from the
judge's confusion on real held-out images (rows: true breed; columns: judged breed,
then unrecognized):

- ``corrected_shares``: black-box shift estimation (Lipton, Wang and Smola, ICML 2018,
  "Detecting and Correcting for Label Shift with Black Box Predictors"). If the
  samples of each breed were judged the way held-out real images of that breed are,
  the judged shares are q = Cᵀp for the true shares p; solving for p (non-negative
  least squares) undoes the confusion among recognized images.
- ``false_positive_floors`` (``imagelab.judge.calibration``): per breed, a one-sided 95%
  upper bound on the share of *other* breeds' images the judge calls that breed.

Both assume the samples look like real images to the judge. Generated images are
blurrier, and the judge confuses them more than real ones, so the correction is a
lower bound on the true confusion, not a cure (docs/metrics.md).
"""

from __future__ import annotations

from typing import Sequence

import torch
from scipy.optimize import nnls

from imagelab.metrics.breeds import breed_shares
from imagelab.metrics.metric import (
    METRICS,
    Column,
    GenerationInputs,
    Metric,
    MetricConfig,
    per_breed,
)


def corrected_shares(judged_shares: torch.Tensor, confusion: torch.Tensor) -> torch.Tensor:
    """True breed shares (K,) behind the recognized part of ``judged_shares`` (K + 1,: breeds, then unrecognized).

    ``confusion`` is a (K, K + 1) count matrix from ``label_confusion``. Among
    recognized images, C[i, j] = P(judged j | true i, recognized); the answer is the
    non-negative p minimising |Cᵀp - q| for the judged breed shares q, rescaled to
    q's total. So corrected shares plus ``share_unrecognized`` still sum to 1, and
    the unrecognized share is left as it is: real images are almost never rejected,
    so their confusion says nothing about why samples are.
    """
    k = confusion.shape[0]
    recognized = confusion[:, :k].double()
    rates = recognized / recognized.sum(1, keepdim=True).clamp_min(1)
    q = judged_shares[:k].double()
    if float(q.sum()) == 0:
        return q.clone()
    p, _ = nnls(rates.T.numpy(), q.numpy())
    p = torch.from_numpy(p)
    return p * (float(q.sum()) / float(p.sum())) if p.sum() > 0 else p


@METRICS.register("corrected_shares")
class CorrectedShares(Metric):
    """Breed shares with the judge's confusion on real held-out images undone (black-box shift estimation)."""

    @classmethod
    def columns(cls, config: MetricConfig, breeds: Sequence[str]) -> list[Column]:
        return per_breed("corrected_share", breeds, "percent")

    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        breeds = self.context.breeds
        judged = breed_shares(inputs.judgement.labels, len(breeds))  # (K + 1,)
        corrected = corrected_shares(judged, self.context.label_confusion)  # (K,)
        return {f"corrected_share_{b}": float(corrected[i]) for i, b in enumerate(breeds)}
