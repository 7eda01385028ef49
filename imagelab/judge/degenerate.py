"""Degenerate images: what a broken generator makes instead of dogs.

The judge must not confidently call these a breed (DESIGN.md, "Fidelity first"):
a collapsed or under-trained generator produces heavily blurred dogs, flat
mean-colour blobs (a VAE decoding its prior), noise, or background without a dog.
The judge sees a stream of them while training (outlier exposure) and the tests
check, with other seeds and other parameters, that they end up unrecognized.

The makers take and return uint8 images (N, 3, H, W), are seeded, and work on a
whole batch at once. Sizes are given "in pixels at 32 px" and scale with the
resolution, so the same defaults mean the same thing at 64 or 128 px.
``gaussian_blur`` (float images, one sigma per image, which torchvision's blur
cannot do in one call) is shared with the judge's augmentation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from imagelab.data.toydogs import render_backgrounds
from imagelab.seeding import derive_seed, torch_generator

KINDS = ("blurred", "blobs", "noise", "backgrounds")
REFERENCE_RESOLUTION = 32  # sizes in this module are pixels at this resolution


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur float images (N, C, H, W), image ``i`` with its own ``sigma[i]`` in pixels.

    A separable depthwise convolution with one kernel per image, edges replicated;
    sigma 0 leaves an image unchanged. Kernels reach 4 sigma of the largest sigma in
    the batch, so an image's result depends on its batch only below ~1e-3.
    """
    n, c, h, w = images.shape
    sigma = sigma.to(images.device, torch.float32).clamp_min(1e-3)
    radius = max(1, math.ceil(4.0 * float(sigma.max())))
    offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=torch.float32)
    kernels = torch.exp(-0.5 * (offsets[None, :] / sigma[:, None]) ** 2)  # (N, K)
    kernels = (kernels / kernels.sum(1, keepdim=True)).repeat_interleave(c, dim=0)  # (N*C, K)
    x = images.reshape(1, n * c, h, w).float()
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, kernels[:, None, None, :], groups=n * c)  # horizontal pass
    x = F.conv2d(x, kernels[:, None, :, None], groups=n * c)  # vertical pass
    return x.reshape(n, c, h, w).to(images.dtype)


def blurred(images: torch.Tensor, sigma: float | tuple[float, float], seed: int) -> torch.Tensor:
    """Images blurred with sigma (pixels at 32 px) fixed, or uniform in ``(low, high)`` per image."""
    scale = images.shape[-1] / REFERENCE_RESOLUTION
    low, high = (sigma, sigma) if isinstance(sigma, (int, float)) else sigma
    u = torch.rand(images.shape[0], generator=torch_generator(derive_seed(seed, "blurred")))
    sigmas = (low + (high - low) * u) * scale
    return _to_uint8(gaussian_blur(images.float(), sigmas))


def mean_colour_blobs(images: torch.Tensor, seed: int, radius: tuple[float, float] = (4.0, 9.0),
                      opacity: tuple[float, float] = (0.5, 1.0)) -> torch.Tensor:
    """Soft blobs of each image's dog colour on a smooth version of its background.

    This is what a VAE decodes from latents far from its data: the colours of a dog
    with none of its shape. Without a mask, each row's background is taken as the
    line between its two end pixels (the dog never touches the left and right
    edges), and the dog's colour as the mean of the pixels weighted by how far they
    are from that background. The field under the blob runs from the image's flat
    mean colour to that dog-free background (uniform per image). ``radius``
    (pixels at 32 px, the blob's standard deviation) and ``opacity`` are drawn
    uniformly per image.
    """
    n, _, h, w = images.shape
    scale = w / REFERENCE_RESOLUTION
    generator = torch_generator(derive_seed(seed, "blobs"))
    x = images.float() / 255.0
    t = torch.linspace(0.0, 1.0, w)
    background = x[..., :1] * (1 - t) + x[..., -1:] * t  # (N, 3, H, W), row by row
    weight = ((x - background) ** 2).sum(1, keepdim=True) + 1e-6  # (N, 1, H, W)
    dog = (x * weight).sum((2, 3)) / weight.sum((2, 3))  # (N, 3)
    params = torch.rand(n, 6, generator=generator)
    mix = params[:, 5, None, None, None]
    field = x.mean(dim=(2, 3), keepdim=True) * (1 - mix) + background * mix
    # An elongated Gaussian blob near the centre, like a body seen from the side.
    cx = (0.5 + 0.25 * (params[:, 0] - 0.5)) * w
    cy = (0.5 + 0.25 * (params[:, 1] - 0.5)) * h
    sx = (radius[0] + (radius[1] - radius[0]) * params[:, 2]) * scale
    sy = sx * (0.5 + 0.6 * params[:, 3])
    alpha = opacity[0] + (opacity[1] - opacity[0]) * params[:, 4]
    ys = torch.arange(h, dtype=torch.float32)[None, :, None]
    xs = torch.arange(w, dtype=torch.float32)[None, None, :]
    blob = torch.exp(-0.5 * (((xs - cx[:, None, None]) / sx[:, None, None]) ** 2
                             + ((ys - cy[:, None, None]) / sy[:, None, None]) ** 2))  # (N, H, W)
    blob = (alpha[:, None, None] * blob)[:, None]  # (N, 1, H, W)
    out = field * (1 - blob) + dog[:, :, None, None] * blob
    out = out + 0.01 * torch.randn(out.shape, generator=generator)  # the faint speckle of a decoder
    return _to_uint8(out * 255.0)


def noise(n: int, resolution: int, seed: int) -> torch.Tensor:
    """Noise images, a third each: white noise, noise around a random colour, smooth coloured noise."""
    generator = torch_generator(derive_seed(seed, "noise"))
    shape = (n, 3, resolution, resolution)
    white = torch.rand(shape, generator=generator)
    colour = torch.rand(n, 3, 1, 1, generator=generator)
    tinted = colour + (0.05 + 0.2 * torch.rand(n, 1, 1, 1, generator=generator)) * torch.randn(
        shape, generator=generator)
    coarse = torch.rand(n, 3, 4, 4, generator=generator)
    smooth = F.interpolate(coarse, size=(resolution, resolution), mode="bicubic", align_corners=False)
    kind = torch.arange(n) % 3
    out = torch.where((kind == 0)[:, None, None, None], white,
                      torch.where((kind == 1)[:, None, None, None], tinted, smooth))
    return _to_uint8(out * 255.0)


def blank_backgrounds(n: int, resolution: int, seed: int) -> torch.Tensor:
    """Toy-dog backgrounds with no dog in them (uint8 (n, 3, R, R))."""

    return render_backgrounds([derive_seed(seed, "background", i) for i in range(n)], resolution)


def degenerate_sets(real_images: torch.Tensor, n_per_kind: int, seed: int,
                    blur_sigma: tuple[float, float] = (2.0, 6.0),
                    blob_radius: tuple[float, float] = (4.0, 9.0)) -> dict[str, torch.Tensor]:
    """``n_per_kind`` degenerate images of each kind in KINDS, made from ``real_images``.

    Blurred images and blobs start from real images drawn with replacement. The
    judge trains on these defaults; tests should use other seeds and parameters.
    """
    resolution = real_images.shape[-1]
    picks = torch.randint(len(real_images), (2, n_per_kind), generator=torch_generator(derive_seed(seed, "picks")))
    return {
        "blurred": blurred(real_images[picks[0]], blur_sigma, derive_seed(seed, "blurred")),
        "blobs": mean_colour_blobs(real_images[picks[1]], derive_seed(seed, "blobs"), radius=blob_radius),
        "noise": noise(n_per_kind, resolution, derive_seed(seed, "noise")),
        "backgrounds": blank_backgrounds(n_per_kind, resolution, derive_seed(seed, "backgrounds")),
    }


def degenerate_mix(real_images: torch.Tensor, n: int, seed: int, blur_sigma: tuple[float, float] = (2.0, 6.0),
                   blob_radius: tuple[float, float] = (4.0, 9.0)) -> torch.Tensor:
    """``n`` degenerate images (uint8 (n, 3, H, W)), the kinds in equal shares, shuffled."""
    per_kind = -(-n // len(KINDS))
    sets = degenerate_sets(real_images, per_kind, seed, blur_sigma=blur_sigma, blob_radius=blob_radius)
    mix = torch.cat([sets[kind] for kind in KINDS])
    order = torch.randperm(len(mix), generator=torch_generator(derive_seed(seed, "shuffle")))
    return mix[order[:n]]


def _to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 255] -> uint8 (rounded, clamped)."""
    return images.round().clamp_(0, 255).to(torch.uint8)
