"""Runs that share a machine: one short run alone, then 2 at once, then 4 at once, in one invocation.

Three ways of running N seeds of it are timed, each against the same run alone:

- ``independent``: N ``imagelab run`` commands started together, each choosing its own
  threads (how two of a user's runs meet on one machine: each divides the CPUs it may use
  between the imagelab runs live at each of its stages, runtime/machine_runs.py);
- ``sweep --jobs N``: one ``imagelab sweep`` over the N seeds, which runs them side by
  side and splits the CPUs between them (each gets available // N threads);
- ``sweep --jobs 1``: the same sweep, one run after the other, each with every CPU;
- ``unshared`` (with ``--unshared``, in place of the sweeps): N ``imagelab run --threads C``
  started together, C being every CPU the process may use: runs that do not split the
  cores, as every run did before they shared them (and as runs under an ``OMP_NUM_THREADS``
  do).

The ratio of each step's wall time to the run alone is the figure to watch. A run alone
already uses every core, so N at once ideally take N times as long, less what its extra
threads did not buy; the target on 2 cores: at most 2.2 for 2 at once, 4.4 for 4.

The short run is the embedded default with one generation and half its data
(``loop.generations=1 data.imbalance.max_count=500``); the judge is trained once,
untimed, before the timed runs, so every run loads it from the cache.
Each run is a fresh process (imports included, as a user sees it). The machine's CPU
count, affinity, cgroup quota and load average before and after each step go into
benchmarks/results/concurrency.json, with every wall time and ratio. Run it on an
otherwise quiet machine:

    python benchmarks/concurrency.py                       # 1, 2 and 4 at once; about 15 minutes on 2 cores
    python benchmarks/concurrency.py --quick --out /tmp/concurrency.json   # tiny runs: checks the script
    python benchmarks/concurrency.py --counts 2 --unshared --out benchmarks/results/concurrency_unshared.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml
from measuring import cpu_name

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))  # this checkout's imagelab, also for the runs started below

from imagelab.runtime.threads import cpu_share  # noqa: E402 - after the path is set

RESULTS = Path(__file__).parent / "results" / "concurrency.json"
SHORT_RUN = ["loop.generations=1", "data.imbalance.max_count=500"]
QUICK_RUN = ["data.resolution=16", "data.breeds=[golden_retriever,dachshund,petit_basset_griffon_vendeen]",
             "data.imbalance.max_count=60", "data.imbalance.ratio=10", "data.judge_train_per_breed=40",
             "data.eval_per_breed=20", "judge.epochs=1", "generator.epochs=1", "loop.generations=1",
             "eval.grid_samples=16"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="more overrides for every run")
    parser.add_argument("--counts", default="2,4", help="how many runs at once, after the one alone (default 2,4)")
    parser.add_argument("--quick", action="store_true", help="tiny runs (16 px, 3 breeds): checks the script only")
    parser.add_argument("--unshared", action="store_true",
                        help="time runs that each take every CPU (--threads C) instead of the sweeps")
    parser.add_argument("--step-limit", type=float, default=600, metavar="SECONDS",
                        help="stop an --unshared step after this long (default 600)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"result file (default {RESULTS})")
    args = parser.parse_args()
    counts = [int(count) for count in args.counts.split(",")]
    overrides = [*(QUICK_RUN if args.quick else SHORT_RUN), "device=cpu", *args.overrides]
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        env = {**os.environ, "IMAGELAB_CACHE": str(scratch / "cache"), "TQDM_DISABLE": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))}
        env.pop("OMP_NUM_THREADS", None)  # each run chooses its threads as it would for a user
        launch(scratch, "warm-up", [["run", *overrides, "loop.generations=0", "--out", str(scratch / "warm")]], env)
        steps = [step("alone", 1, scratch, [run_command(overrides, 0, scratch / "alone")], env)]
        for count in counts:
            steps.append(step("independent", count, scratch,
                              [run_command(overrides, seed, scratch / f"independent{count}_{seed}")
                               for seed in range(count)], env))
            if args.unshared:
                every_cpu = ["--threads", str(cpu_share().usable[0])]
                steps.append(step("unshared", count, scratch,
                                  [[*run_command(overrides, seed, scratch / f"unshared{count}_{seed}"), *every_cpu]
                                   for seed in range(count)], env, args.step_limit))
                continue
            sweep = write_sweep(scratch / f"seeds{count}.yaml", overrides, count)
            for jobs in (count, 1):
                steps.append(step(f"sweep --jobs {jobs}", count, scratch,
                                  [["sweep", str(sweep), "--jobs", str(jobs),
                                    "--out", str(scratch / f"sweep{count}_jobs{jobs}")]], env))
    alone = steps[0]["wall_seconds"]
    for entry in steps:
        entry["ratio_to_alone"] = None if entry["wall_seconds"] is None else round(entry["wall_seconds"] / alone, 3)
    result = {"date": time.strftime("%Y-%m-%d"), "quick": args.quick, "unshared": args.unshared, "overrides": overrides,
              "machine": machine(), "steps": steps}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(steps))
    print(f"Written: {args.out}")


def write_sweep(path: Path, overrides: list[str], seeds: int) -> Path:
    """A sweep file over seeds 0..seeds-1 of the short run."""
    fixed = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in overrides)}
    path.write_text(yaml.safe_dump({"overrides": fixed, "grid": {"seed": list(range(seeds))}}, sort_keys=False))
    return path


def run_command(overrides: list[str], seed: int, out: Path) -> list[str]:
    return ["run", *overrides, f"seed={seed}", "--out", str(out)]


def step(mode: str, count: int, scratch: Path, commands: list[list[str]], env: dict,
         limit: float | None = None) -> dict:
    """Start ``commands`` together and time them; the step's wall time is the last one's end.

    A step stopped at ``limit`` seconds has no wall time (None) and says where it was stopped.
    """
    load_before = os.getloadavg()
    seconds = launch(scratch, f"{mode}{count}", commands, env, limit)
    folders = [Path(command[command.index("--out") + 1]) for command in commands]
    stopped = None in seconds
    entry = {"mode": mode, "runs": count, "wall_seconds": None if stopped else round(max(seconds), 2),
             "stopped_after_seconds": limit if stopped else None,
             "seconds_per_command": [None if s is None else round(s, 2) for s in seconds],
             "threads_per_run": threads_used(folders),
             "load_average_before": [round(x, 2) for x in load_before],
             "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    took = f"stopped after {limit:.0f} s" if stopped else f"{entry['wall_seconds']:.1f} s"
    print(f"{mode}, {count} run(s): {took}, threads per stage {entry['threads_per_run']}",
          flush=True)  # a step takes minutes: say each one as it ends
    return entry


def launch(scratch: Path, name: str, commands: list[list[str]], env: dict,
           limit: float | None = None) -> list[float | None]:
    """Run ``commands`` (imagelab arguments) as processes started together; each one's wall seconds.

    A command still running after ``limit`` seconds is killed, and its time is None.
    """
    logs = [scratch / f"{name}_{index}.log" for index in range(len(commands))]
    handles = [log.open("w") for log in logs]
    start = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, "-m", "imagelab", *command], env=env, stdin=subprocess.DEVNULL,
                                  stdout=handle, stderr=subprocess.STDOUT)
                 for command, handle in zip(commands, handles)]
    ends: dict[int, float] = {}
    while len(ends) < len(processes):
        for index, process in enumerate(processes):
            if index not in ends and process.poll() is not None:
                ends[index] = time.perf_counter() - start
        if limit is not None and time.perf_counter() - start > limit:
            for index, process in enumerate(processes):
                if index not in ends:
                    process.kill()
                    process.wait()
                    ends[index] = None
        time.sleep(0.05)
    for handle in handles:
        handle.close()
    for index, (process, log) in enumerate(zip(processes, logs)):
        if ends[index] is not None and process.returncode != 0:
            raise SystemExit(f"{name}: `imagelab {' '.join(process.args[3:])}` failed "
                             f"(exit status {process.returncode}):\n{log.read_text()[-3000:]}")
    return [ends[index] for index in range(len(processes))]


def threads_used(folders: list[Path]) -> list[list[int]]:
    """Each run's torch threads in each of its stages, in order, from its manifest (a sweep holds several runs).

    An automatic count is re-divided before each stage between the imagelab runs live on the
    machine, so a run that started before the others may use more threads in its first stages.
    """
    manifests = [m for folder in folders for m in sorted(folder.glob("**/manifest.json"))]
    used = []
    for manifest in map(json.loads, (m.read_text() for m in manifests)):
        stages = [info.get("threads", manifest["threads"]["count"])
                  for _, record in sorted(manifest["generations"].items(), key=lambda item: int(item[0]))
                  for info in record["stages"].values()]
        used.append(stages or [manifest["threads"]["count"]])
    return used


def machine() -> dict:
    share = cpu_share()
    return {"cpu": cpu_name(), "cpu_count": os.cpu_count(),
            "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "physical_cores": share.physical_cores, "cgroup_cpu_quota": share.quota,
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform()}


def table(steps: list[dict]) -> str:
    lines = ["| mode | runs | threads per run | wall (s) | ratio to one alone |", "|---|---|---|---|---|"]
    for entry in steps:
        threads = ",".join(map(str, sorted({count for run in entry["threads_per_run"] for count in run})))
        if entry["wall_seconds"] is None:
            limit = entry["stopped_after_seconds"]
            wall, ratio = f"stopped at {limit:.0f}", f"> {limit / steps[0]['wall_seconds']:.1f}"
        else:
            wall, ratio = f"{entry['wall_seconds']:.1f}", f"{entry['ratio_to_alone']:.2f}"
        lines.append(f"| {entry['mode']} | {entry['runs']} | {threads} | {wall} | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
