"""Make the README figures from a finished run: breed shares per generation, sample grids, breed mosaic.

    imagelab run --out runs/readme        # the embedded default
    python scripts/readme_figures.py runs/readme --out assets
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from imagelab.report.mosaic import run_mosaic_sheet, spaced
from imagelab.report.plots import plot_breed_shares
from imagelab.runs.layout import GRID_FILE, generation_folder_name
from imagelab.runs.record import load_run


def grids_side_by_side(run_dir: Path, generations: list[int], path: Path) -> None:
    """Each chosen generation's grid.png in one row, titled."""
    grids = [Image.open(run_dir / generation_folder_name(g) / GRID_FILE) for g in generations]
    title_height = 24
    width = sum(g.width for g in grids) + 16 * (len(grids) - 1)
    canvas = Image.new("RGB", (width, max(g.height for g in grids) + title_height), "white")
    draw = ImageDraw.Draw(canvas)
    left = 0
    for generation, grid in zip(generations, grids):
        draw.text((left + 4, 6), "real pool (generation 0)" if generation == 0 else f"generation {generation}",
                  fill="black")
        canvas.paste(grid, (left, title_height))
        left += grid.width + 16
    canvas.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("assets"))
    args = parser.parse_args()
    run = load_run(args.run_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    title = f"{run.section('generator').get('name')} generator, {run.section('loop').get('regime')} regime, " \
            f"seed {run.config.get('seed')}"
    plot_breed_shares(run.rows, run.breeds, args.out / "breed_shares.png", title=title,
                      drift_population=run.drift_population)
    last = run.rows[-1]["generation"]
    grids_side_by_side(args.run_dir, sorted({0, 1, last // 2, last}), args.out / "sample_grids.png")
    run_mosaic_sheet(run, spaced([row["generation"] for row in run.rows], 6), args.out / "mosaic.png")
    print(f"wrote {args.out / 'breed_shares.png'}, {args.out / 'sample_grids.png'} and {args.out / 'mosaic.png'}")


if __name__ == "__main__":
    main()
