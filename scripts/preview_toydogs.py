"""Write a PNG contact sheet of the toy dog breeds: one labelled row per breed.

    python scripts/preview_toydogs.py --out toydogs.png --resolution 32 --per-breed 12
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from imagelab.data.toydogs import BREEDS, render_dogs
from imagelab.seeding import sample_seeds

LABEL_WIDTH = 230  # pixels reserved left of each row for the breed name


def contact_sheet(resolution: int, per_breed: int, seed: int, zoom: int) -> Image.Image:
    """One row per breed, images upscaled with nearest-neighbour so single pixels stay visible."""
    cell = resolution * zoom + 2
    sheet = Image.new("RGB", (LABEL_WIDTH + per_breed * cell, len(BREEDS) * cell), "white")
    draw = ImageDraw.Draw(sheet)
    for row, name in enumerate(BREEDS):
        seeds = sample_seeds(seed, per_breed, start=row * per_breed)
        images = render_dogs(torch.full((per_breed,), row), seeds, resolution)
        draw.text((6, row * cell + cell // 2 - 6), name, fill="black")
        for col, image in enumerate(images):
            tile = Image.fromarray(image.permute(1, 2, 0).numpy()).resize((cell - 2, cell - 2), Image.NEAREST)
            sheet.paste(tile, (LABEL_WIDTH + col * cell + 1, row * cell + 1))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--per-breed", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--zoom", type=int, default=0, help="upscaling factor; 0 picks about 96 px per image")
    args = parser.parse_args()
    zoom = args.zoom or max(1, 96 // args.resolution)
    contact_sheet(args.resolution, args.per_breed, args.seed, zoom).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
