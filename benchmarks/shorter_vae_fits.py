"""Can the default VAE train in fewer steps and still pass the fidelity targets?

The default lab's time is mostly its ten VAE fits (10 epochs of 104 steps of 24 images),
and halving it means a fit that converges in about half the steps. For each candidate
setting this runs generation 1 of the embedded default (``imagelab run
loop.generations=1``) on each ``--seeds`` seed, each a fresh process with the judge and
the rendered data cached, and records what ``tests/test_fidelity.py`` holds generation 1
to: total variation to the real pool (at most 0.10), unrecognized (at most 5%), the four
rarest breeds' share against the real pool's (at least 0.5) and, beside them, FID,
recall and the fit's seconds. Results, with the machine and its load, go to
benchmarks/results/shorter_vae_fits.json and a markdown table on stdout.

    python benchmarks/shorter_vae_fits.py [--seeds 0,1]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measuring import cpu_name

RESULTS = Path(__file__).parent / "results" / "shorter_vae_fits.json"
# name -> run-config overrides; "default" is today's setting, the others cut its optimiser steps.
CANDIDATES = {
    "default (10 epochs, batch 24)": [],
    "6 epochs": ["generator.epochs=6"],
    "6 epochs, lr 1e-2": ["generator.epochs=6", "generator.lr=1e-2"],
    "6 epochs, width 32": ["generator.epochs=6", "generator.width=32"],
    "6 epochs, kl_weight 0.01": ["generator.epochs=6", "generator.kl_weight=0.01"],
    "5 epochs, batch 32, lr 1e-2": ["generator.epochs=5", "generator.batch_size=32", "generator.lr=1e-2"],
    "4 epochs": ["generator.epochs=4"],
    "4 epochs, lr 1e-2": ["generator.epochs=4", "generator.lr=1e-2"],
}
TAIL_BREEDS = 4  # as tests/test_fidelity.py: the four rarest breeds keep at least half their share


def generation_one(out: Path, seed: int, overrides: list[str]) -> dict:
    env = {**os.environ, "TQDM_DISABLE": "1"}
    subprocess.run([sys.executable, "-m", "imagelab", "run", "--out", str(out), "loop.generations=1",
                    f"seed={seed}", *overrides], check=True, env=env, stdout=subprocess.DEVNULL)
    with open(out / "metrics.csv") as handle:
        real, first = list(csv.DictReader(handle))
    manifest = json.loads((out / "manifest.json").read_text())
    breeds = [c.removeprefix("share_") for c in real if c.startswith("share_") and c != "share_unrecognized"]
    tail = breeds[-TAIL_BREEDS:]  # breed order is commonest first
    tail_ratio = sum(float(first[f"share_{b}"]) for b in tail) / sum(float(real[f"share_{b}"]) for b in tail)
    row = {"seed": seed, "tv_to_real": float(first["tv_to_real"]),
           "unrecognized": float(first["share_unrecognized"]), "tail_share_ratio": round(tail_ratio, 3),
           "fid": float(first["fid"]), "recall": float(first["recall"]),
           "fit_seconds": manifest["generations"]["1"]["stages"]["fit"]["seconds"]}
    row["passes"] = row["tv_to_real"] <= 0.10 and row["unrecognized"] <= 0.05 and tail_ratio >= 0.5
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1", help="comma-separated run seeds")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    load_before = [round(x, 2) for x in os.getloadavg()]
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, overrides in CANDIDATES.items():
            rows = [generation_one(Path(scratch) / f"{len(results)}-{seed}", seed, overrides) for seed in seeds]
            results[name] = {"overrides": overrides, "seeds": rows}
            print(f"{name}: " + "; ".join(f"seed {r['seed']} TV {r['tv_to_real']:.3f} unrecognized "
                                          f"{r['unrecognized']:.1%} tail {r['tail_share_ratio']:.2f} fit "
                                          f"{r['fit_seconds']:.1f} s" for r in rows), flush=True)
    default_fit = sum(r["fit_seconds"] for r in next(iter(results.values()))["seeds"])
    print("\n| setting | fit time vs default | seeds passing the targets | TV | unrecognized | tail share |")
    print("|---|---|---|---|---|---|")
    for name, result in results.items():
        rows = result["seeds"]
        result["fit_time_vs_default"] = round(sum(r["fit_seconds"] for r in rows) / default_fit, 2)
        print(f"| {name} | {result['fit_time_vs_default']:.2f} | {sum(r['passes'] for r in rows)} of {len(rows)} | "
              + " | ".join(" / ".join(fmt.format(r[key]) for r in rows) for key, fmt in
                           (("tv_to_real", "{:.3f}"), ("unrecognized", "{:.1%}"), ("tail_share_ratio", "{:.2f}")))
              + " |")
    record = {"date": time.strftime("%Y-%m-%d %H:%M"), "command": f"python benchmarks/shorter_vae_fits.py "
              f"--seeds {args.seeds}", "targets": "TV <= 0.10, unrecognized <= 5%, tail share ratio >= 0.5",
              "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "affinity": len(os.sched_getaffinity(0))},
              "load_average_before": load_before, "load_average_after": [round(x, 2) for x in os.getloadavg()],
              "candidates": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
