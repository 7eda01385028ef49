"""The published-directions sweep, timed and recorded: `imagelab sweep published-directions`, then its
claims table and figure copied to benchmarks/results/published_directions/ with the date, the machine and
the wall time (run.json). The README's table is made from the recorded claims.csv by
scripts/directions_table.py.

    python benchmarks/published_directions.py --jobs 2          # about 90 minutes on 2 cores
    python benchmarks/published_directions.py --out runs/pd     # resumes an interrupted sweep there

Run it on an otherwise quiet machine; the load average before and after goes into run.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
from measuring import cpu_name

REPOSITORY = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "published_directions"
SWEEP = "published-directions"
RECORDED = ("claims.csv", "claims.png", "summary.csv", "summary_over_seeds.csv", "paired_differences.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (default 2)")
    parser.add_argument("--out", type=Path, default=REPOSITORY / "runs" / SWEEP, help="the sweep's folder")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the record goes")
    args = parser.parse_args()

    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    start = time.perf_counter()
    command = [sys.executable, "-m", "imagelab", "sweep", SWEEP, "--jobs", str(args.jobs), "--out", str(args.out)]
    finished = subprocess.run(command, cwd=REPOSITORY)
    seconds = time.perf_counter() - start
    if finished.returncode != 0:
        sys.exit(f"the sweep stopped with exit status {finished.returncode}; nothing recorded "
                 f"(run the same command again to resume it in {args.out})")
    args.results.mkdir(parents=True, exist_ok=True)
    for name in RECORDED:
        if (args.out / name).is_file():
            shutil.copyfile(args.out / name, args.results / name)
    record = {
        "command": " ".join(["imagelab", *command[3:]]),
        "started_utc": started.isoformat(timespec="seconds"),
        "wall_seconds": round(seconds, 1),
        "note": "a resumed sweep's wall time counts only the last invocation",
        "machine": {"cpu": cpu_name(), "cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
    }
    (args.results / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"recorded in {args.results} ({seconds / 60:.1f} min)")


if __name__ == "__main__":
    main()
