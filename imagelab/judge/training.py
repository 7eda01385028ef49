"""Training the judge: real images with mild augmentation, degenerate images pushed to uniform, breed blends.

See ``imagelab/judge/model.py`` for why each part is there (outlier exposure, mixup of two breeds).
Training is sized in epochs, but never fewer than ``judge.min_steps`` optimiser steps
(``training_schedule``): a split of a few dozen photos per breed fills one batch, so six
epochs of it would be six steps, far too few for a judge trained from scratch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from imagelab.data.imageset import ImageSet
from imagelab.judge.config import JudgeConfig
from imagelab.judge.degenerate import KINDS, REFERENCE_RESOLUTION, degenerate_mix, gaussian_blur
from imagelab.judge.network import autocast, forward, prepare
from imagelab.runtime.finite import check_finite
from imagelab.runtime.progress import progress_bar
from imagelab.seeding import derive_seed, torch_generator


@dataclass(frozen=True)
class TrainingSchedule:
    """How long the judge trains: whole epochs of ``steps_per_epoch`` batches of ``real_per_batch`` real images."""

    epochs: int
    steps_per_epoch: int
    real_per_batch: int

    @property
    def steps(self) -> int:
        return self.epochs * self.steps_per_epoch


def training_schedule(config: JudgeConfig, train_images: int) -> TrainingSchedule:
    """``judge.epochs`` epochs over ``train_images`` images, or more when those are under ``judge.min_steps`` steps."""
    real_per_batch = min(config.batch_size, train_images)
    steps_per_epoch = max(1, train_images // real_per_batch)
    epochs = max(config.epochs, math.ceil(config.min_steps / steps_per_epoch))
    return TrainingSchedule(epochs, steps_per_epoch, real_per_batch)


def train_classifier(model: torch.nn.Module, config: JudgeConfig, train_set: ImageSet, device: torch.device, seed: int,
                     progress: bool, outlier_kinds: Sequence[str] = KINDS) -> TrainingSchedule:
    """Cross-entropy on real images plus, with outlier exposure, cross-entropy to uniform on degenerate ones
    (of ``outlier_kinds``, see ``imagelab.judge.degenerate``); returns the schedule it followed."""
    generator = torch_generator(derive_seed(seed, "judge", "batches"))
    images = train_set.images.to(device)  # uint8, resident on the device
    labels = train_set.labels.to(device)
    n = len(train_set)
    plan = training_schedule(config, n)
    real_per_batch, steps_per_epoch = plan.real_per_batch, plan.steps_per_epoch
    outliers_per_batch = math.ceil(real_per_batch * config.outlier_fraction) if config.outlier_exposure else 0
    blends_per_batch = math.ceil(real_per_batch * config.blend_fraction)
    k = int(labels.max()) + 1
    outlier_blur = (config.outlier_blur_min, 3.0 * config.outlier_blur_min)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    lr_schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr,
                                                      total_steps=plan.steps, pct_start=0.25)
    model.train()
    for epoch in progress_bar(range(plan.epochs), "judge training", unit="epoch", enabled=progress):
        order = torch.randperm(n, generator=generator).to(device)
        outliers = None
        if outliers_per_batch:
            # A fresh stream each epoch: new sources, blur strengths and noise.
            outliers = degenerate_mix(train_set.images, steps_per_epoch * outliers_per_batch,
                                      derive_seed(seed, "judge", "outliers", epoch), blur_sigma=outlier_blur,
                                      kinds=outlier_kinds).to(device)
        for step in range(steps_per_epoch):
            index = order[step * real_per_batch:(step + 1) * real_per_batch]
            batch = images[index]
            if outliers is not None:
                batch = torch.cat([batch, outliers[step * outliers_per_batch:(step + 1) * outliers_per_batch]])
            x = prepare(batch, device)
            if blends_per_batch:
                blends, blend_targets = _breed_blends(x[:real_per_batch], labels[index], k, blends_per_batch, generator)
                x = torch.cat([x, blends])
            if config.augment:
                # The same augmentation for real and degenerate images, so it is no cue to realness.
                x = _augment(x, generator, config.real_blur_max)
            with autocast(device):
                _, logits = forward(model, x)
            logits = logits.float()
            loss = F.cross_entropy(logits[:real_per_batch], labels[index])
            if outliers is not None:
                # Cross-entropy between the uniform distribution and the prediction on degenerate images.
                end = real_per_batch + outliers_per_batch
                loss = loss - config.outlier_weight * logits[real_per_batch:end].log_softmax(dim=1).mean()
            if blends_per_batch:
                blend_logits = logits[len(logits) - len(blends):].log_softmax(dim=1)
                if config.blend_target == "uniform":
                    loss = loss - config.outlier_weight * blend_logits.mean()
                else:
                    loss = loss - (blend_targets * blend_logits).sum(1).mean()
            check_finite(loss.detach(), f"judge training, epoch {epoch + 1}")  # NonFiniteLossError stops the run
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            lr_schedule.step()
    return plan


def _breed_blends(x: torch.Tensor, labels: torch.Tensor, k: int, n: int,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` pixel blends of two images of different breeds, and each blend's breed mixture (n, k).

    Pairs come from ``x`` (float images with their ``labels``); the weight of the first image is
    uniform in [0.25, 0.75], so every blend is clearly two dogs at once.
    """
    device = x.device
    first = torch.randint(len(x), (4 * n,), generator=generator).to(device)
    second = torch.randint(len(x), (4 * n,), generator=generator).to(device)
    keep = (labels[first] != labels[second]).nonzero().flatten()[:n]
    first, second = first[keep], second[keep]
    weight = (0.25 + 0.5 * torch.rand(len(keep), generator=generator)).to(device)
    blends = weight[:, None, None, None] * x[first] + (1 - weight[:, None, None, None]) * x[second]
    targets = weight[:, None] * F.one_hot(labels[first], k) + (1 - weight[:, None]) * F.one_hot(labels[second], k)
    return blends, targets.float()


def _augment(x: torch.Tensor, generator: torch.Generator, max_blur: float) -> torch.Tensor:
    """Mild, label-preserving changes to float images (B, 3, H, W) in [-1, 1].

    Flips, shifts of up to 2 px, blur of sigma up to ``max_blur`` on half the images
    (pixels at 32 px), small colour offsets and pixel noise: roughly what separates
    a good generator sample from a real image. Random numbers come from the CPU
    ``generator`` so the result does not depend on the device.
    """
    b, _, h, w = x.shape
    scale = w / REFERENCE_RESOLUTION
    device = x.device
    # Flip half of the images left-right.
    flip = (torch.rand(b, generator=generator) < 0.5).to(device)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    # Shift by whole pixels, replicating the edges: gather rows, then columns.
    pad = max(1, round(2 * scale))
    shifts = torch.randint(0, 2 * pad + 1, (b, 2), generator=generator).to(device)
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")  # (B, 3, H + 2p, W + 2p)
    rows = (shifts[:, 0:1] + torch.arange(h, device=device))[:, None, :, None].expand(b, 3, h, w + 2 * pad)
    x = padded.gather(2, rows)
    cols = (shifts[:, 1:2] + torch.arange(w, device=device))[:, None, None, :].expand(b, 3, h, w)
    x = x.gather(3, cols)
    # Blur half of the images a little.
    blur = (torch.rand(b, generator=generator) < 0.5).to(device)
    sigma = torch.rand(b, generator=generator) * max_blur * scale
    if blur.any():
        x[blur] = gaussian_blur(x[blur], sigma.to(device)[blur])
    # Colour offsets (up to ~4/255) and pixel noise (std up to ~5/255).
    offset = (torch.rand(b, 3, 1, 1, generator=generator) - 0.5) * 0.06
    noise_std = torch.rand(b, 1, 1, 1, generator=generator) * 0.04
    noise = torch.randn(x.shape, generator=generator) * noise_std
    return x + (offset + noise).to(device)
