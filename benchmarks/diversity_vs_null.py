"""Within-breed diversity after the default lab's 10 generations, against the resampling null, paired by seed.

Runs (or resumes) the embedded default (`vae`) and the `toy-resample` null over the same seeds, each
seed with the same real data and judge in both (``--vary generator``, the default), then compares
their last generation seed by seed: B (vae) - A (resample) of the within-breed feature variance
(relative to generation 0), the distinct images overall and per breed, coverage, recall and the
rarest breeds' share. Intervals are the lab's (95% percentile bootstrap over seeds; with fewer than
5 seeds every seed's difference is listed, since the bootstrap then shows their spread).

    python benchmarks/diversity_vs_null.py                          # seeds 0,1,2, 2 runs at a time
    python benchmarks/diversity_vs_null.py --seeds 0,1,2,3,4 --out runs/diversity

Writes benchmarks/results/diversity_vs_null.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from measuring import cpu_name

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from imagelab.metrics.intervals import paired_differences, seed_values_text  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "diversity_vs_null.json"
RUNS = {"resample": ["toy-resample"], "vae": []}  # A, then B: the preset each runs
COLUMNS = ("within_breed_variance", "distinct", "coverage", "recall", "tail_mass")


def rows_of(folder: Path, seeds: list[int], generation: int) -> dict[int, dict]:
    """Each seed's metrics row of ``generation`` (-1: the last)."""
    rows = {}
    for seed in seeds:
        with open(folder / f"seed_{seed}" / "metrics.csv") as handle:
            rows[seed] = list(csv.DictReader(handle))[generation]
    return rows


def fidelity(rows: dict[int, dict]) -> dict[str, object]:
    """Generation 1's TV to the real pool and unrecognized share: each seed's, mean and range."""
    found = {}
    for column in ("tv_to_real", "share_unrecognized"):
        values = [float(row[column]) for row in rows.values()]
        found[column] = {"per_seed": values, "mean": sum(values) / len(values), "range": [min(values), max(values)]}
    return found


def compare(rows: dict[str, dict[int, dict]], columns: list[str]) -> dict[str, dict]:
    table = {}
    for column in columns:
        sides = [{seed: float(row[column]) for seed, row in rows[name].items() if row.get(column, "") != ""}
                 for name in RUNS]
        paired = paired_differences(*sides)
        table[column] = {"resample": [sides[0][s] for s in paired["seeds"]],
                         "vae": [sides[1][s] for s in paired["seeds"]],
                         "difference_mean": paired["mean"], "difference_ci95": [paired["low"], paired["high"]],
                         "per_seed_difference": seed_values_text(paired["differences"]), "seeds": paired["seeds"]}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (default 2)")
    parser.add_argument("--out", type=Path, default=REPOSITORY / "runs" / "diversity-vs-null")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    seconds = {}
    for name, preset in RUNS.items():
        start = time.perf_counter()
        command = [sys.executable, "-m", "imagelab", "run", *preset, "--seeds", args.seeds,
                   "--jobs", str(args.jobs), "--out", str(args.out / name)]
        if subprocess.run(command, cwd=REPOSITORY).returncode != 0:
            sys.exit(f"{' '.join(command[2:])} failed; run this script again to resume it")
        seconds[name] = round(time.perf_counter() - start, 1)
    rows = {name: rows_of(args.out / name, seeds, -1) for name in RUNS}
    breeds = [column[len("distinct_"):] for column in rows["vae"][seeds[0]] if column.startswith("distinct_")]
    result = {
        "what": "last generation of the default lab (vae) minus the resample null, paired by seed "
                "(same real data and judge per seed)",
        "command": f"python benchmarks/diversity_vs_null.py --seeds {args.seeds} --jobs {args.jobs}",
        "generation": int(rows["vae"][seeds[0]]["generation"]),
        "wall_seconds": seconds,
        "note": "a run found complete is not re-run, so its wall time is then only the check",
        "machine": {"cpu": cpu_name(), "cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
        "columns": compare(rows, [*COLUMNS, *(f"distinct_{breed}" for breed in breeds)]),
        "generation_1_fidelity": {name: fidelity(rows_of(args.out / name, seeds, 1)) for name in RUNS},
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    for column, entry in result["columns"].items():
        low, high = entry["difference_ci95"]
        print(f"{column:40s} vae - resample {entry['difference_mean']:+.4g} [{low:+.4g}, {high:+.4g}] "
              f"(per seed {entry['per_seed_difference']})")
    for name, found in result["generation_1_fidelity"].items():
        print(f"generation 1 of {name}: " + ", ".join(
            f"{column} mean {entry['mean']:.4f} (range {entry['range'][0]:.4f}-{entry['range'][1]:.4f})"
            for column, entry in found.items()))
    print(f"written to {args.results}")


if __name__ == "__main__":
    main()
