"""The published-directions sweep, timed and recorded: `imagelab sweep published-directions`, then its
claims table and figure copied to benchmarks/results/published_directions/ with the date, the machine and
the wall time (run.json). The README's table is made from the recorded claims.csv by
scripts/directions_table.py.

    python benchmarks/published_directions.py --jobs 2          # about 45 minutes on 2 cores
    python benchmarks/published_directions.py --out runs/pd     # resumes an interrupted sweep there
    python benchmarks/published_directions.py --out runs/pd --record-only   # records a finished sweep

Runs that fail (a diverging fit) are listed in run.json and left out of the claims they belong to; the
sweep goes on without them, as `imagelab sweep` does. With --record-only the wall time is the span from
the first run's creation (its manifest) to the sweep's summary.csv. Run it on an otherwise quiet
machine; the load average before and after goes into run.json.
"""

from __future__ import annotations

import argparse
import csv
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
    parser.add_argument("--record-only", action="store_true", help="record the sweep in --out without running it")
    args = parser.parse_args()

    load_before = os.getloadavg()
    command = [sys.executable, "-m", "imagelab", "sweep", SWEEP, "--jobs", str(args.jobs), "--out", str(args.out)]
    if args.record_only:
        started, seconds = span_of(args.out)
    else:
        started = datetime.datetime.now(datetime.timezone.utc)
        start = time.perf_counter()
        finished = subprocess.run(command, cwd=REPOSITORY)
        seconds = time.perf_counter() - start
        if finished.returncode not in (0, 1):  # 1: some runs failed, and the sweep went on without them
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
        "failed_runs": failed_runs(args.out),
        "machine": {"cpu": cpu_name(), "cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
    }
    if args.record_only:  # the sweep ran earlier: today's load says nothing about it
        del record["machine"]["load_average_before"], record["machine"]["load_average_after"]
    (args.results / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"recorded in {args.results} ({seconds / 60:.1f} min)")


def span_of(out: Path) -> tuple[datetime.datetime, float]:
    """When the sweep in ``out`` began (its first run's manifest) and the seconds until its summary.csv."""
    created = [json.loads(path.read_text())["created"] for path in out.glob("*/manifest.json")]
    if not created or not (out / "summary.csv").is_file():
        sys.exit(f"{out} holds no finished sweep to record (no run manifests or no summary.csv)")
    first = datetime.datetime.fromisoformat(min(created)).replace(tzinfo=datetime.timezone.utc)
    last = datetime.datetime.fromtimestamp((out / "summary.csv").stat().st_mtime, datetime.timezone.utc)
    return first, (last - first).total_seconds()


def failed_runs(out: Path) -> list[dict]:
    """The runs summary.csv does not mark complete, with their status (e.g. the error that stopped them)."""
    with open(out / "summary.csv") as handle:
        return [{"run": row["run"], "status": row["status"], "last_generation": row["generation"]}
                for row in csv.DictReader(handle) if row["status"] != "complete"]


if __name__ == "__main__":
    main()
