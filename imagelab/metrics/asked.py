"""How often the judge names the breed a generator was asked to draw (conditional generators)."""

from __future__ import annotations

import math

import torch

from imagelab.data.imageset import UNLABELED


def judged_as_asked(asked: torch.Tensor, judged: torch.Tensor) -> float:
    """Share of the images with a requested breed (``asked`` >= 0) that the judge names as that breed.

    ``asked`` and ``judged`` are (N,) breed indices, UNLABELED (-1) for "none asked" and
    "unrecognized". NaN when no image has a requested breed (unconditional generators).
    """
    requested = asked != UNLABELED
    if not bool(requested.any()):
        return math.nan
    return float((judged[requested] == asked[requested]).double().mean())
