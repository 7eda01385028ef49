"""Time the embedded default lab (`imagelab run`, no arguments) from a cold judge cache.

Records the wall time of the whole command (imports, data, judge training, every
generation), the per-stage times from the run's manifest, the lab's overhead around
the generator (everything but the generator's own fit and sample, as a fraction of
them) and the command's peak memory (resident set size), with the machine it ran on,
to benchmarks/results/default_run.json and a markdown table on stdout.

    python benchmarks/default_run.py [--keep RUN_DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from measuring import cpu_name

RESULTS = Path(__file__).parent / "results" / "default_run.json"


def machine() -> dict:
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="run folder to keep (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = args.keep or Path(scratch) / "run"
        env = {**os.environ, "IMAGELAB_CACHE": str(Path(scratch) / "cache")}  # cold cache: the judge trains
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "imagelab", "run", "--out", str(run_dir)], env=env, check=True)
        wall = time.perf_counter() - start
        manifest = json.loads((run_dir / "manifest.json").read_text())
    stage_totals: dict[str, float] = defaultdict(float)
    for record in manifest["generations"].values():
        for stage, info in record["stages"].items():
            stage_totals[stage] += info["seconds"]
    setup = {name: info["seconds"] for name, info in manifest["setup"].items()}
    accounted = sum(stage_totals.values()) + sum(setup.values())
    generator_seconds = stage_totals["fit"] + stage_totals["sample"]
    overhead = wall - generator_seconds
    overhead_warm = overhead - setup["judge_training"]  # a later run loads the judge from the cache
    peak_rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux reports KiB
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "command": "imagelab run  (the embedded default; cold judge cache)",
        "machine": machine(),
        "wall_seconds": round(wall, 1),
        "setup_seconds": setup,
        "stage_seconds_all_generations": {k: round(v, 2) for k, v in stage_totals.items()},
        "startup_and_unaccounted_seconds": round(wall - accounted, 1),
        "generator_seconds": round(generator_seconds, 1),
        "overhead_seconds": round(overhead, 1),
        "overhead_fraction_of_generator": round(overhead / generator_seconds, 3),
        "overhead_fraction_of_generator_judge_cached": round(overhead_warm / generator_seconds, 3),
        "peak_rss_mib": round(peak_rss_mib),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "per_generation": {g: {s: i["seconds"] for s, i in r["stages"].items()}
                           for g, r in manifest["generations"].items()},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"| what | seconds |\n|---|---|\n| whole command | {wall:.1f} |")
    for name, seconds in {**setup, **result["stage_seconds_all_generations"]}.items():
        print(f"| {name} | {seconds:.1f} |")
    print(f"| imports, startup, report, other | {result['startup_and_unaccounted_seconds']:.1f} |")
    print(f"\nOverhead around the generator: {overhead:.1f} s = {overhead / generator_seconds:.1%} of its "
          f"{generator_seconds:.1f} s of fit + sample ({overhead_warm / generator_seconds:.1%} with the judge cached); "
          f"peak memory {peak_rss_mib:.0f} MiB")
    print(f"\n{result['machine']['cpu']}, {result['machine']['cores']} cores; written to {RESULTS}")


if __name__ == "__main__":
    main()
