"""Finite-loss checks: a NaN or inf loss stops training with a message that names where."""

from __future__ import annotations

import math

import torch

from imagelab.errors import NonFiniteLossError


def check_finite(loss: torch.Tensor | float, where: str) -> float:
    value = float(loss)
    if not math.isfinite(value):
        raise NonFiniteLossError(f"{where}: loss became {value}; lower the learning rate or check the data")
    return value
