"""Small photo collections on disk, in the layouts real datasets ship in, for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# Each breed gets its own dominant colour, so a judge can tell them apart after one epoch.
COLOURS = [(220, 60, 40), (40, 200, 60), (50, 70, 230), (230, 210, 40)]


def photo(seed: int, colour: tuple[int, int, int], size: tuple[int, int] = (28, 22)) -> Image.Image:
    """A unique RGB image (width, height): the breed's colour plus per-image noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    pixels = np.asarray(colour, dtype=np.float64) + rng.normal(0, 25, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_breed(folder: Path, count: int, colour_index: int, fmt: str = "jpg", seed: int = 0) -> list[Path]:
    """``count`` photos of one breed in ``folder`` (JPEG or PNG); sizes vary, so both aspect ratios occur."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        size = (28 + i % 7, 22 + (3 * i) % 11)
        path = folder / f"{folder.name}_{i}.{fmt}"
        photo(seed * 100_003 + colour_index * 10_007 + i, COLOURS[colour_index], size).save(path, quality=95)
        paths.append(path)
    return paths


def stanford_dogs(root: Path, counts: dict[str, int]) -> Path:
    """``root/Images/<wnid>-<Name>/*.jpg``, as images.tar unpacks (PNG for every second breed, to cover both)."""
    for index, (folder, count) in enumerate(counts.items()):
        write_breed(root / "Images" / folder, count, index, fmt="png" if index % 2 else "jpg")
    return root


def imagewoof(root: Path, counts: dict[str, tuple[int, int]]) -> Path:
    """``root/train/<wnid>/*.JPEG`` and ``root/val/<wnid>/*.JPEG``; counts are (train, val) per WordNet id."""
    for index, (wnid, (train, val)) in enumerate(counts.items()):
        write_breed(root / "train" / wnid, train, index, fmt="JPEG", seed=1)
        write_breed(root / "val" / wnid, val, index, fmt="JPEG", seed=2)
    return root


def dog_photo(seed: int, colour: tuple[int, int, int], size: tuple[int, int] = (24, 24)) -> Image.Image:
    """A unique RGB image with a shape in it: a "dog" (a body and a head) of the breed's colour, somewhere near
    the centre, on a muted background, both textured by noise. Blurring it, shuffling its patches or flattening
    it to its mean colour destroys what makes it a photo of the breed, as it would for a real dog photo."""
    rng = np.random.default_rng(seed)
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    background = rng.uniform(70, 170, 3) + rng.uniform(-30, 30, 3) * (xs / width)[..., None]
    cx, cy = width * rng.uniform(0.4, 0.6), height * rng.uniform(0.45, 0.6)
    body = ((xs - cx) / (0.3 * width)) ** 2 + ((ys - cy) / (0.18 * height)) ** 2 <= 1
    side = rng.choice([-1, 1])  # the head on the left or the right
    head = ((xs - cx - side * 0.3 * width) ** 2 + (ys - cy + 0.2 * height) ** 2) <= (0.12 * width) ** 2
    dog = (body | head)[..., None]
    pixels = np.where(dog, np.asarray(colour, dtype=np.float64), background) + rng.normal(0, 14, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_dogs(folder: Path, count: int, colour_index: int, seed: int = 0) -> list[Path]:
    """``count`` ``dog_photo`` PNGs of one breed in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{folder.name}_{i}.png"
        dog_photo(seed * 100_003 + colour_index * 10_007 + i, COLOURS[colour_index]).save(path)
        paths.append(path)
    return paths
