"""Breed x generation mosaic and the animated grids: watching a breed fade.

The mosaic has one row per breed (and one for unrecognized) and one column per
generation; each cell tiles the first few samples the judge assigned to that
breed in that generation. Samples are stored in random order, so "the first few"
is a fair draw, not the judge's favourites. Cells are small uint8 arrays, saved
one PNG each for the HTML page (which scales them with CSS) and composed into one
labelled PNG for the README.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from safetensors import safe_open

from imagelab.report.png import save_png
from imagelab.runs.layout import JUDGEMENT_FILE, SAMPLES_FILE
from imagelab.runs.record import UNRECOGNIZED, GenerationRecord, RunRecord

CELL_PADDING = 1
SHEET_PADDING = 6
GIF_MAX_WIDTH = 600  # frames wider than this are shrunk (nearest) to keep the GIF small


def load_judged(samples: Path, judgement: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(images (N, H, W, 3) uint8, judged labels (N,), -1 = unrecognized), or None if unreadable."""
    try:
        with safe_open(str(samples), framework="pt") as handle:
            images = handle.get_tensor("images")
        with safe_open(str(judgement), framework="pt") as handle:
            labels = handle.get_tensor("labels")
    except Exception:  # noqa: BLE001 - a truncated or foreign file is reported as missing, not fatal
        return None
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3 or labels.shape != (images.shape[0],):
        return None
    # Channels last once for the whole set: the cells below are numpy slices, no per-cell tensor ops.
    return images.permute(0, 2, 3, 1).numpy(), labels.to(torch.int64).numpy()


def load_generations(generations: Sequence[GenerationRecord]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Judged samples of each generation whose samples and judgement are present and readable."""
    judged = {}
    for record in generations:
        if SAMPLES_FILE in record.files and JUDGEMENT_FILE in record.files:
            loaded = load_judged(record.files[SAMPLES_FILE], record.files[JUDGEMENT_FILE])
            if loaded is not None:
                judged[record.generation] = loaded
    return judged


def cell_tile(images: np.ndarray, per_cell: int) -> np.ndarray:
    """(S, S, 3) uint8: up to ``per_cell`` images (n, R, R, 3) in a square tile; empty slots stay white."""
    side = max(1, math.ceil(math.sqrt(per_cell)))
    resolution = images.shape[1]
    step = resolution + CELL_PADDING
    tile = np.full((side * step + CELL_PADDING, side * step + CELL_PADDING, 3), 255, dtype=np.uint8)
    for index, image in enumerate(images[: side * side]):
        top, left = CELL_PADDING + (index // side) * step, CELL_PADDING + (index % side) * step
        tile[top:top + resolution, left:left + resolution] = image
    return tile


def mosaic_cells(judged: dict[int, tuple[np.ndarray, np.ndarray]], num_breeds: int,
                 per_cell: int) -> dict[tuple[int, int], tuple[np.ndarray, int]]:
    """{(row, generation): (tile, members)}; row ``num_breeds`` is unrecognized (label -1)."""
    cells = {}
    for generation, (images, labels) in judged.items():
        for row in range(num_breeds + 1):
            members = np.flatnonzero(labels == (row if row < num_breeds else -1))
            cells[(row, generation)] = (cell_tile(images[members[:per_cell]], per_cell), len(members))
    return cells


def save_tile(tile: np.ndarray, path: Path) -> None:
    save_png(Image.fromarray(tile), path)


def mosaic_sheet(cells: dict[tuple[int, int], tuple[np.ndarray, int]], names: Sequence[str],
                 generations: Sequence[int], path: Path, scale: int = 2) -> None:
    """One labelled PNG of the mosaic: breed names on the left, generations on top, shares under the cells.

    An empty cell (no sample of that breed) says 'none', a generation without samples '?'.
    """
    tile_size = next(iter(cells.values()))[0].shape[0] * scale if cells else 64
    font = ImageFont.load_default(size=13)
    small = ImageFont.load_default(size=10)
    label_width = 14 + max((int(font.getlength(name)) for name in names), default=60)
    header, caption = 24, 13
    totals = {g: sum(count for (_, generation), (_, count) in cells.items() if generation == g) for g in generations}
    column_width, row_height = tile_size + SHEET_PADDING, tile_size + caption + SHEET_PADDING
    sheet = Image.new("RGB", (label_width + len(generations) * column_width, header + len(names) * row_height), "white")
    draw = ImageDraw.Draw(sheet)
    for column, generation in enumerate(generations):
        left = label_width + column * column_width
        draw.text((left + tile_size // 2, header // 2), f"gen {generation}", fill="black", font=font, anchor="mm")
    for row, name in enumerate(names):
        top = header + row * row_height
        draw.text((6, top + tile_size // 2), name, fill="black", font=font, anchor="lm")
        for column, generation in enumerate(generations):
            left = label_width + column * column_width
            cell = cells.get((row, generation))
            if cell is None or cell[1] == 0:
                draw.rectangle((left, top, left + tile_size - 1, top + tile_size - 1), fill="#f2f2f2")
                draw.text((left + tile_size // 2, top + tile_size // 2), "none" if cell else "?", fill="#999999",
                          font=font, anchor="mm")
            else:
                tile = Image.fromarray(cell[0]).resize((tile_size, tile_size), Image.Resampling.NEAREST)
                sheet.paste(tile, (left, top))
            if cell is not None and totals[generation]:
                centre = (left + tile_size // 2, top + tile_size + caption // 2)
                draw.text(centre, f"{cell[1] / totals[generation]:.1%}", fill="#555555", font=small, anchor="mm")
    save_png(sheet, path)


def spaced(values: Sequence[int], limit: int) -> list[int]:
    """At most ``limit`` of ``values``, evenly spaced, first and last kept."""
    if len(values) <= limit:
        return list(values)
    positions = {round(i * (len(values) - 1) / (limit - 1)) for i in range(limit)}
    return [values[p] for p in sorted(positions)]


def run_mosaic_sheet(run: RunRecord, generations: Sequence[int], path: Path, per_cell: int = 4) -> None:
    """The labelled mosaic PNG of ``generations`` of a run (as in the README)."""
    chosen = [g for g in run.generations if g.generation in set(generations)]
    cells = mosaic_cells(load_generations(chosen), len(run.breeds), per_cell)
    mosaic_sheet(cells, [*run.breeds, UNRECOGNIZED], [g.generation for g in chosen], path)


def grids_gif(frames: Sequence[tuple[int, Path]], path: Path, milliseconds: int = 700) -> bool:
    """An animated GIF of each generation's grid.png, titled; False (nothing written) without frames."""
    images = []
    font = ImageFont.load_default(size=14)
    for generation, grid_path in frames:
        try:
            grid = Image.open(grid_path).convert("RGB")
        except OSError:
            continue
        if grid.width > GIF_MAX_WIDTH:
            factor = math.ceil(grid.width / GIF_MAX_WIDTH)
            grid = grid.resize((grid.width // factor, grid.height // factor), Image.Resampling.NEAREST)
        frame = Image.new("RGB", (grid.width, grid.height + 24), "white")
        frame.paste(grid, (0, 24))
        title = "real pool (generation 0)" if generation == 0 else f"generation {generation}"
        ImageDraw.Draw(frame).text((6, 4), title, fill="black", font=font)
        # Pillow would reduce each frame to 256 colours by median cut (130 ms a frame); the fast octree
        # takes 3 ms and, on these grids, is off by about one more grey level per channel on average.
        images.append(frame.quantize(256, method=Image.Quantize.FASTOCTREE))
    if not images:
        return False
    durations = [milliseconds] * (len(images) - 1) + [milliseconds * 3]  # linger on the last generation
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=False)
    return True
