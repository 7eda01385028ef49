"""Writing the lab's PNG images (grids, mosaic tiles and sheets).

zlib level 1 instead of Pillow's default 6: a run writes two grids per generation and
the report a mosaic, and at level 6 the compression is most of their cost (breeds.png:
130 ms against 31 ms, for a file 18% larger; benchmarks/default_run.py times the run).
The pixels are the same at every level.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

COMPRESS_LEVEL = 1


def save_png(image: Image.Image, path: Path) -> None:
    image.save(path, format="PNG", compress_level=COMPRESS_LEVEL)
