"""Would judging generation g while generation g + 1 fits shorten a run? Timed on this machine.

A short default run (``loop.generations=2``, judge from ``--cache``) gives the pieces: generation 1's
VAE, its samples (generation 2's pool under ``replace``) and the judge. Then, ``--repeats`` times,
in turns:

- **one after the other**: the warm-started 2-epoch fit of generation 2, then the judge over generation
  2's samples ``--judgings`` times (the default 4 takes about twice what a generation's judging, metrics
  and grids take together in ``benchmarks/default_run.py``, so that any overlap would show);
- **side by side**: the same fit, with the same judging on a second thread (torch's kernels let go of
  the interpreter lock, so both run at once), each with torch's threads for the whole machine;
- **side by side, one thread each**: the same, with ``torch.set_num_threads(1)``, so that the two share
  the cores instead of fighting over them.

If the side-by-side wall time is no shorter than the fit alone plus the judging alone, overlapping the
loop's stages would not pay on this machine. Medians, with the machine and its load, to
benchmarks/results/overlap_measuring.json.

    python benchmarks/overlap_measuring.py [--repeats 3] [--judgings 4] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
from measuring import cpu_machine, load_average

from imagelab.data.imageset import ImageSet
from imagelab.generators.base import load_generator
from imagelab.judge.model import Judge

RESULTS = Path(__file__).parent / "results" / "overlap_measuring.json"
CPU = torch.device("cpu")


def short_run(folder: Path, cache: Path) -> None:
    env = {**os.environ, "IMAGELAB_CACHE": str(cache), "TQDM_DISABLE": "1"}
    subprocess.run([sys.executable, "-m", "imagelab", "run", "loop.generations=2", "--out", str(folder)],
                   env=env, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--judgings", type=int, default=4)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "imagelab-bench-cache")
    args = parser.parse_args()
    os.environ["TQDM_DISABLE"] = "1"

    with tempfile.TemporaryDirectory() as scratch:
        run = Path(scratch) / "run"
        short_run(run, args.cache)
        judge = Judge.load(run / "judge", CPU)
        pool = ImageSet.load(run / "gen_001" / "samples.safetensors")
        to_judge = ImageSet.load(run / "gen_002" / "samples.safetensors").images

        def fit() -> float:
            previous = load_generator(run / "gen_001" / "generator", CPU)
            generator = type(previous)(previous.config, previous.data, CPU)
            start = time.perf_counter()
            generator.fit(pool, seed=2, warm_start=previous)
            return time.perf_counter() - start

        def judging() -> float:
            start = time.perf_counter()
            for _ in range(args.judgings):
                judge.judge(to_judge)
            return time.perf_counter() - start

        machine_threads = torch.get_num_threads()

        def side_by_side(threads: int) -> float:
            torch.set_num_threads(threads)
            worker = threading.Thread(target=judging)
            start = time.perf_counter()
            worker.start()
            fit()
            worker.join()
            seconds = time.perf_counter() - start
            torch.set_num_threads(machine_threads)
            return seconds

        load_before = load_average()
        fit(), judging()  # warm-up: allocator, threads, first-call costs
        sequential, overlapped, one_thread_each = [], [], []
        for _ in range(args.repeats):
            sequential.append(fit() + judging())
            overlapped.append(side_by_side(machine_threads))
            one_thread_each.append(side_by_side(1))

    record = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": f"python benchmarks/overlap_measuring.py --repeats {args.repeats} --judgings {args.judgings}",
        "machine": cpu_machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "one_after_the_other_seconds": [round(s, 2) for s in sequential],
        "side_by_side_seconds": [round(s, 2) for s in overlapped],
        "side_by_side_one_thread_each_seconds": [round(s, 2) for s in one_thread_each],
        "median_one_after_the_other": round(statistics.median(sequential), 2),
        "median_side_by_side": round(statistics.median(overlapped), 2),
        "median_side_by_side_one_thread_each": round(statistics.median(one_thread_each), 2),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=1) + "\n")
    print(f"fit + {args.judgings} judgings: {record['median_one_after_the_other']:.2f} s one after the other, "
          f"{record['median_side_by_side']:.2f} s side by side, "
          f"{record['median_side_by_side_one_thread_each']:.2f} s side by side with one thread each "
          f"(medians of {args.repeats})")


if __name__ == "__main__":
    main()
