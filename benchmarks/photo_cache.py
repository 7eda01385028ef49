"""Time preprocessing a photo folder (decode, resize, center-crop, cache) and reading it back from the cache.

Writes a Stanford-Dogs-like folder of synthetic JPEG photos (500x375, quality 90,
``--breeds`` breeds of ``--per-breed`` photos) to a temporary folder, then times
``build_real_data`` twice with a cold ``$IMAGELAB_CACHE``: the first call decodes
every photo and writes the cache, the second reads the cache. Results go to
benchmarks/results/photo_cache.json with the machine they were measured on.

    python benchmarks/photo_cache.py [--breeds 10] [--per-breed 200] [--resolution 64]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from default_run import machine  # noqa: E402  (same machine description as the other benchmark)

RESULTS = Path(__file__).parent / "results" / "photo_cache.json"


def write_photos(root: Path, breeds: int, per_breed: int) -> None:
    """Smooth colour gradients plus noise: JPEG-compressible like photos, unique per file."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:375, 0:500] / 500.0
    for b in range(breeds):
        folder = root / "Images" / f"n0{2085620 + b}-Breed_{b}"
        folder.mkdir(parents=True)
        for i in range(per_breed):
            base = rng.uniform(0, 255, 3) * (0.5 + 0.5 * np.stack([x, y, 1 - x], -1))
            noise = rng.normal(0, 12, (375, 500, 3))
            Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(folder / f"{i}.jpg", quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--breeds", type=int, default=10)
    parser.add_argument("--per-breed", type=int, default=200)
    parser.add_argument("--resolution", type=int, default=64)
    args = parser.parse_args()
    load_before = round(os.getloadavg()[0], 2)  # the machine may be shared: record how busy it was
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["IMAGELAB_CACHE"] = str(Path(scratch) / "cache")
        from imagelab.config import load_config
        from imagelab.data import build_real_data

        write_photos(Path(scratch) / "dogs", args.breeds, args.per_breed)
        config = load_config(None, ["data.name=folder", f"data.root={Path(scratch) / 'dogs'}",
                                    f"data.resolution={args.resolution}", "data.judge_train_per_breed=50",
                                    "data.eval_per_breed=10", "data.imbalance.max_count=50"]).data
        timings = {}
        for name in ("cold (decode + write cache)", "warm (read cache)"):
            start = time.perf_counter()
            build_real_data(config)
            timings[name] = round(time.perf_counter() - start, 2)
    photos = args.breeds * args.per_breed
    result = {"date": time.strftime("%Y-%m-%d"), "photos": photos, "photo_size": "500x375 JPEG q90",
              "resolution": args.resolution, "seconds": timings,
              "photos_per_second_cold": round(photos / timings["cold (decode + write cache)"], 1),
              "load_average_1min_before": load_before, "machine": machine()}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
