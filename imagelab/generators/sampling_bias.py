"""``generator.sampling_bias``: one knob, one meaning, for every built-in that can bias its sampler.

0 is unbiased sampling; larger values draw each sample closer to the typical image
of its breed, which should keep precision and lose recall and coverage (the sampling
bias of Alemohammad et al. 2024, whose lambda is 1 - sampling_bias). The mechanism is
truncation (StyleGAN's psi = 1 - sampling_bias) in the space a generator samples in:

- ``vae``: the sampled latent moves toward the mean latent of its mixture component's
  breed, ``centre + psi * (latent - centre)``;
- ``latent-diffusion``: the same for the final (denoised) latent, toward the mean
  training latent of the breed the sample was drawn for.

Generators without a mechanism that measurably biases have no ``sampling_bias`` setting,
and the config parser refuses the key for them, naming the generators that take it.
``ddpm-cond`` is one: scaling its initial noise by psi (a lower noise temperature) moved
neither recall nor coverage at generation 1 (benchmarks/results/sampling_bias_ddpm-cond.json),
since the ancestral sampler's fresh noise at every step washes the start out.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

import torch

from imagelab.data.imageset import UNLABELED


def sampling_bias_field() -> Any:
    """The ``sampling_bias`` field of a generator config: in [0, 1], 0 (unbiased) by default."""
    return field(default=0.0, metadata={"min": 0.0, "max": 1.0})


def breed_centres(latents: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(num_classes + 1, D) mean latent of each breed; the last row is that of the UNLABELED latents.

    A breed without a latent gets the mean of all latents (nothing is ever drawn for it,
    but the row must hold a finite point).
    """
    groups = torch.where(labels == UNLABELED, num_classes, labels).to(latents.device)
    sums = torch.zeros(num_classes + 1, latents.shape[1], dtype=torch.float64, device=latents.device)
    sums.index_add_(0, groups, latents.double())
    counts = torch.bincount(groups, minlength=num_classes + 1).double()[:, None]
    overall = latents.double().mean(0, keepdim=True).expand_as(sums)
    return torch.where(counts > 0, sums / counts.clamp(min=1), overall).float()


def truncate(latents: torch.Tensor, centres: torch.Tensor, sampling_bias: float) -> torch.Tensor:
    """``latents`` (N, D) moved toward their ``centres`` (N, D): psi = 1 - sampling_bias of the way kept."""
    return centres + (1.0 - sampling_bias) * (latents - centres)
