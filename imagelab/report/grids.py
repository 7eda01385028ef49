"""Image grids for people: grid.png (random samples) and breeds.png (samples by judged breed)."""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torchvision.utils import make_grid

from imagelab.report.png import save_png
from imagelab.seeding import torch_generator

MIN_CELL = 64  # pixels per image in a saved grid; small images are enlarged (nearest) to this
PADDING = 2
LABEL_WIDTH = 260


def _enlarge(images: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour upscaling of uint8 (N, 3, R, R) so each image is at least MIN_CELL wide."""
    factor = max(1, math.ceil(MIN_CELL / images.shape[-1]))
    return F.interpolate(images, scale_factor=factor, mode="nearest") if factor > 1 else images


def _to_pil(grid: torch.Tensor) -> Image.Image:
    return Image.fromarray(grid.permute(1, 2, 0).contiguous().numpy())


def sample_grid(images: torch.Tensor, path: Path, count: int, seed: int = 0) -> None:
    """Save ``count`` images drawn at random (seeded) as a square grid.

    Drawn, not the first ones: the real pool is stored breed by breed, so its first
    images would all be golden retrievers.
    """
    chosen = images[torch.randperm(len(images), generator=torch_generator(seed))[:count]]
    nrow = max(1, math.ceil(math.sqrt(len(chosen))))
    grid = make_grid(_enlarge(chosen), nrow=nrow, padding=PADDING, pad_value=255)
    save_png(_to_pil(grid), path)


def breed_rows(images: torch.Tensor, labels: torch.Tensor, breeds: tuple[str, ...], path: Path, per_row: int) -> None:
    """One labelled row per breed (and one for unrecognized) of samples the judge assigned to it."""
    names = list(breeds) + ["unrecognized"]
    row_labels = list(range(len(breeds))) + [-1]
    cell = _enlarge(images[:1]).shape[-1] if len(images) else MIN_CELL
    row_height = cell + 2 * PADDING
    width = LABEL_WIDTH + per_row * (cell + PADDING) + PADDING
    canvas = Image.new("RGB", (width, row_height * len(names)), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    total = max(len(labels), 1)
    for row, (name, label) in enumerate(zip(names, row_labels)):
        members = (labels == label).nonzero().flatten()
        top = row * row_height
        draw.text((6, top + cell // 2 - 6), f"{name}  {len(members) / total:.1%}", fill="black", font=font)
        if len(members) == 0:
            continue
        strip = make_grid(_enlarge(images[members[:per_row]]), nrow=per_row, padding=PADDING, pad_value=255)
        canvas.paste(_to_pil(strip), (LABEL_WIDTH, top))
    save_png(canvas, path)
