"""The judge's forward pass: uint8 images in, pre-logits features and logits out, one pass for both."""

from __future__ import annotations

from contextlib import nullcontext

import torch


def prepare(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float in [-1, 1] on ``device``."""
    return images.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)


def channels_last(device: torch.device) -> bool:
    # Measured on a CPU: test_resnet at 32 px trains 1.6x faster (the whole judge training 1.3x);
    # the usual win on CUDA. Unmeasured on MPS, so left out there.
    return device.type in ("cpu", "cuda")


def forward(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pre-logits features (B, D) and logits (B, K) from one pass."""
    if channels_last(x.device):
        x = x.contiguous(memory_format=torch.channels_last)
    features = model.forward_head(model.forward_features(x), pre_logits=True)
    return features, model.get_classifier()(features)


def autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
