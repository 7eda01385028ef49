"""A residual MLP that denoises latent vectors: the network of the ``latent-diffusion`` generator.

A latent is a flat vector (the conv VAE's 64 numbers), so the denoiser is an MLP
rather than a UNet: an input projection, ``blocks`` pre-norm residual blocks of width
``width`` (each Linear -> SiLU -> Linear with a 2x hidden layer), and an output
projection. The timestep enters as a sinusoidal embedding (as in the DDPM UNet) and
the breed as a learned embedding with one extra row for "no label" (classifier-free
guidance); their sum is added to every block's input. The output layer starts at
zero, so the untrained model predicts 0 (the mean of a v-prediction target).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """(B,) integer timesteps -> (B, dim) sines and cosines at geometrically spaced frequencies."""
    half = dim // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, device=timesteps.device) / half)
    angles = timesteps.float()[:, None] * frequencies[None, :]
    return torch.cat([angles.cos(), angles.sin()], dim=1)


class ResidualBlock(nn.Module):
    """x + MLP(LayerNorm(x) + conditioning), the MLP widening to 2x."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.SiLU(), nn.Linear(2 * width, width))

    def forward(self, x: torch.Tensor, conditioning: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.norm(x) + conditioning)


class LatentDenoiser(nn.Module):
    """Predicts the diffusion target (here the velocity) of noisy latents (B, D) at timesteps (B,).

    ``num_classes`` None: unconditional. Otherwise ``class_labels`` (B,) in 0..num_classes,
    where num_classes is "no label".
    """

    def __init__(self, latent_dim: int, width: int, blocks: int, num_classes: int | None) -> None:
        super().__init__()
        self.width = width
        self.input = nn.Linear(latent_dim, width)
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.classes = nn.Embedding(num_classes + 1, width) if num_classes is not None else None
        self.blocks = nn.ModuleList(ResidualBlock(width) for _ in range(blocks))
        self.output = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, latent_dim))
        nn.init.zeros_(self.output[1].weight)
        nn.init.zeros_(self.output[1].bias)

    def forward(self, latents: torch.Tensor, timesteps: torch.Tensor,
                class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """(B, D) noisy latents, (B,) or () timesteps, (B,) labels -> (B, D) prediction."""
        timesteps = timesteps.expand(len(latents)) if timesteps.ndim == 0 else timesteps
        conditioning = self.time(timestep_embedding(timesteps, self.width))  # (B, width)
        if self.classes is not None:
            if class_labels is None:
                raise ValueError("a class-conditional denoiser needs class_labels")
            conditioning = conditioning + self.classes(class_labels)
        x = self.input(latents)
        for block in self.blocks:
            x = block(x, conditioning)
        return self.output(x)
