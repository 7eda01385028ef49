"""Degenerate images: what a broken generator makes instead of dogs.

The judge must not confidently call these a breed (DESIGN.md, "Fidelity first"):
a collapsed or under-trained generator produces heavily blurred dogs, flat
mean-colour blobs (a VAE decoding its prior), noise, or background without a dog.
The judge sees a stream of them while training (outlier exposure) and the tests
check, with other seeds and other parameters, that they end up unrecognized.

Which kinds the judge sees depends on the data: the toy renderer can draw its
backgrounds without a dog (``KINDS``), photos cannot, so for photos the "no dog"
images are made from the dataset's own photos instead (``PHOTO_KINDS``): patches
of a photo shuffled, which keeps its colours and textures but not its dog, and
flat fields of a photo's mean colour, besides the blurred photos, blobs and noise.

The makers take and return uint8 images (N, 3, H, W), are seeded, and work on a
whole batch at once. Sizes are given "in pixels at 32 px" and scale with the
resolution, so the same defaults mean the same thing at 64 or 128 px.
``gaussian_blur`` (float images, one sigma per image, which torchvision's blur
cannot do in one call) is shared with the judge's augmentation.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from imagelab.data.toydogs import render_backgrounds
from imagelab.seeding import derive_seed, torch_generator

KINDS = ("blurred", "blobs", "noise", "backgrounds")  # for the rendered toy dogs
PHOTO_KINDS = ("blurred", "blobs", "noise", "shuffled", "flat")  # for photos: all made from the photos themselves
REFERENCE_RESOLUTION = 32  # sizes in this module are pixels at this resolution
SHUFFLE_GRID = 4  # patch_shuffled cuts an image into SHUFFLE_GRID x SHUFFLE_GRID patches


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


def patch_shuffled(images: torch.Tensor, seed: int, grid: int = SHUFFLE_GRID) -> torch.Tensor:
    """Each image cut into ``grid`` x ``grid`` patches put back in a random order of its own.

    Colours and local texture stay, the shape of the dog does not: what a generator
    that learnt fur but not dogs makes. Rows and columns beyond a whole number of
    patches (a side not divisible by ``grid``) are kept in place.
    """
    n, c, h, w = images.shape
    ph, pw = h // grid, w // grid
    generator = torch_generator(derive_seed(seed, "shuffled"))
    order = torch.argsort(torch.rand(n, grid * grid, generator=generator), dim=1)  # (N, grid^2) a permutation each
    core = images[:, :, :ph * grid, :pw * grid]
    # (N, C, grid, ph, grid, pw) -> (N, grid^2, C, ph, pw): one row per patch, in reading order.
    patches = core.reshape(n, c, grid, ph, grid, pw).permute(0, 2, 4, 1, 3, 5).reshape(n, grid * grid, c, ph, pw)
    patches = patches[torch.arange(n)[:, None], order]
    shuffled = patches.reshape(n, grid, grid, c, ph, pw).permute(0, 3, 1, 4, 2, 5).reshape(n, c, ph * grid, pw * grid)
    out = images.clone()
    out[:, :, :ph * grid, :pw * grid] = shuffled
    return out


def flat_colour(images: torch.Tensor, seed: int) -> torch.Tensor:
    """Each image replaced by its mean colour everywhere, with the faint speckle of a decoder."""
    generator = torch_generator(derive_seed(seed, "flat"))
    mean = images.float().mean(dim=(2, 3), keepdim=True).expand(images.shape)
    return _to_uint8(mean + 2.5 * torch.randn(images.shape, generator=generator))


def blank_backgrounds(n: int, resolution: int, seed: int) -> torch.Tensor:
    """Toy-dog backgrounds with no dog in them (uint8 (n, 3, R, R))."""

    return render_backgrounds([derive_seed(seed, "background", i) for i in range(n)], resolution)


def degenerate_sets(real_images: torch.Tensor, n_per_kind: int, seed: int,
                    blur_sigma: tuple[float, float] = (2.0, 6.0),
                    blob_radius: tuple[float, float] = (4.0, 9.0),
                    kinds: Sequence[str] = KINDS) -> dict[str, torch.Tensor]:
    """``n_per_kind`` degenerate images of each of ``kinds`` (KINDS or PHOTO_KINDS), made from ``real_images``.

    Blurred images, blobs, shuffled patches and flat colours start from real images
    drawn with replacement. The judge trains on these defaults; tests should use
    other seeds and parameters.
    """
    unknown = [kind for kind in kinds if kind not in (*KINDS, *PHOTO_KINDS)]
    if unknown:
        known = ", ".join(dict.fromkeys(KINDS + PHOTO_KINDS))
        raise ValueError(f"unknown degenerate kind '{unknown[0]}'; known: {known}")
    resolution = real_images.shape[-1]
    picks = torch.randint(len(real_images), (2, n_per_kind), generator=torch_generator(derive_seed(seed, "picks")))

    def sources(kind: str) -> torch.Tensor:
        """Real images for ``kind`` (the two original kinds keep their draw, so toy-dog training is unchanged)."""
        generator = torch_generator(derive_seed(seed, "picks", kind))
        return real_images[torch.randint(len(real_images), (n_per_kind,), generator=generator)]

    makers: dict[str, Callable[[], torch.Tensor]] = {
        "blurred": lambda: blurred(real_images[picks[0]], blur_sigma, derive_seed(seed, "blurred")),
        "blobs": lambda: mean_colour_blobs(real_images[picks[1]], derive_seed(seed, "blobs"), radius=blob_radius),
        "noise": lambda: noise(n_per_kind, resolution, derive_seed(seed, "noise")),
        "backgrounds": lambda: blank_backgrounds(n_per_kind, resolution, derive_seed(seed, "backgrounds")),
        "shuffled": lambda: patch_shuffled(sources("shuffled"), derive_seed(seed, "shuffled")),
        "flat": lambda: flat_colour(sources("flat"), derive_seed(seed, "flat")),
    }
    return {kind: makers[kind]() for kind in kinds}


def degenerate_mix(real_images: torch.Tensor, n: int, seed: int, blur_sigma: tuple[float, float] = (2.0, 6.0),
                   blob_radius: tuple[float, float] = (4.0, 9.0), kinds: Sequence[str] = KINDS) -> torch.Tensor:
    """``n`` degenerate images (uint8 (n, 3, H, W)), the ``kinds`` in equal shares, shuffled."""
    per_kind = -(-n // len(kinds))
    sets = degenerate_sets(real_images, per_kind, seed, blur_sigma=blur_sigma, blob_radius=blob_radius, kinds=kinds)
    mix = torch.cat([sets[kind] for kind in kinds])
    order = torch.randperm(len(mix), generator=torch_generator(derive_seed(seed, "shuffle")))
    return mix[order[:n]]


def _to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 255] -> uint8 (rounded, clamped)."""
    return images.round().clamp_(0, 255).to(torch.uint8)
