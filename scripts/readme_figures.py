"""Make the README figures from a finished run: breed shares per generation, sample grids, breed mosaic.

    imagelab run --out runs/readme        # the embedded default
    python scripts/readme_figures.py runs/readme --out assets
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import yaml
from PIL import Image, ImageDraw

from imagelab.report.mosaic import run_mosaic_sheet, spaced
from imagelab.report.plots import plot_breed_shares
from imagelab.report.rundata import load_run


def read_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv") as handle:
        return [{k: float(v) if k != "generation" else int(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]


def grids_side_by_side(run_dir: Path, generations: list[int], path: Path) -> None:
    """Each chosen generation's grid.png in one row, titled."""
    grids = [Image.open(run_dir / f"gen_{g:03d}" / "grid.png") for g in generations]
    title_height = 24
    width = sum(g.width for g in grids) + 16 * (len(grids) - 1)
    canvas = Image.new("RGB", (width, max(g.height for g in grids) + title_height), "white")
    draw = ImageDraw.Draw(canvas)
    left = 0
    for generation, grid in zip(generations, grids):
        draw.text((left + 4, 6), "real pool (generation 0)" if generation == 0 else f"generation {generation}", fill="black")
        canvas.paste(grid, (left, title_height))
        left += grid.width + 16
    canvas.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("assets"))
    args = parser.parse_args()
    rows = read_rows(args.run_dir)
    breeds = tuple(name[len("share_"):] for name in rows[0] if name.startswith("share_") and name != "share_unrecognized")
    config = yaml.safe_load((args.run_dir / "config.yaml").read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    title = f"{config['generator']['name']} generator, {config['loop']['regime']} regime, seed {config['seed']}"
    neutral = config["loop"]["regime"] == "replace" and not config["loop"].get("real_fraction")  # where drift applies
    plot_breed_shares(rows, breeds, args.out / "breed_shares.png", title=title,
                      drift_population=int(rows[-1]["samples"]) if neutral else None)
    last = rows[-1]["generation"]
    grids_side_by_side(args.run_dir, sorted({0, 1, last // 2, last}), args.out / "sample_grids.png")
    run_mosaic_sheet(load_run(args.run_dir), spaced([row["generation"] for row in rows], 6), args.out / "mosaic.png")
    print(f"wrote {args.out / 'breed_shares.png'}, {args.out / 'sample_grids.png'} and {args.out / 'mosaic.png'}")


if __name__ == "__main__":
    main()
