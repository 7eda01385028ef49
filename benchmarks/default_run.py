"""Time the embedded default lab (`imagelab run`, no arguments) of two code versions side by side.

The previous default (a git revision, checked out in a temporary worktree and run with
``PYTHONPATH`` pointing at it) and the current one (this checkout) are run alternately,
``--repeats`` times each (base, new, base, new, ...), on the same machine in one
invocation, so that a busy machine slows both alike. Both share one judge cache, filled
by an untimed ``loop.generations=0`` run of each version first: the timed runs load the
judge, as every run after the first does.

For each run it records the wall time of the whole command, the per-stage times from the
run's manifest and the lab's overhead around the generator (everything but the
generator's own fit and sample, as a fraction of them); then the median wall time of each
version and their ratio, with the machine and its load average before and after, to
benchmarks/results/default_run.json and a markdown table on stdout.

    python benchmarks/default_run.py --base REV [--repeats 1] [--threads N] [--cache DIR] [KEY=VALUE ...]

``--threads`` and trailing run-config overrides (e.g. ``loop.generations=2`` for a quick
comparison on a busy machine) are passed to every ``imagelab run``; without them both
versions run their own default exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from measuring import cpu_machine, load_average

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "default_run.json"


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True).stdout.strip()


def run_lab(tree: Path, out: Path, cache: Path, extra: list[str]) -> float:
    """Wall seconds of ``imagelab run --out out *extra`` with the package of ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree), "IMAGELAB_CACHE": str(cache), "TQDM_DISABLE": "1"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "imagelab", "run", "--out", str(out), *extra], env=env, check=True,
                   cwd=tree, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def summarize(wall: float, run_dir: Path) -> dict:
    """Per-stage times of one run from its manifest, and the overhead around the generator."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    stages: dict[str, float] = defaultdict(float)
    for record in manifest["generations"].values():
        for stage, info in record["stages"].items():
            stages[stage] += info["seconds"]
    setup = {name: round(info["seconds"], 2) for name, info in manifest["setup"].items()}
    generator = stages["fit"] + stages["sample"]
    overhead = wall - generator
    report = manifest.get("report", {}).get("seconds", 0.0)  # the HTML report, built once at the end
    return {
        "wall_seconds": round(wall, 1),
        "judge_origin": manifest.get("judge", {}).get("origin"),
        "threads": manifest.get("threads"),
        "setup_seconds": setup,
        "stage_seconds_all_generations": {k: round(v, 2) for k, v in stages.items()},
        "report_seconds": round(report, 2),
        "startup_and_unaccounted_seconds": round(wall - sum(stages.values()) - sum(setup.values()) - report, 1),
        "generator_seconds": round(generator, 1),
        "overhead_seconds": round(overhead, 1),
        "overhead_fraction_of_generator": round(overhead / generator, 3),
        "fit_seconds_per_generation": [round(r["stages"]["fit"]["seconds"], 2)
                                       for g, r in manifest["generations"].items() if "fit" in r["stages"]],
        "load_average_after": load_average(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="git revision of the previous default (e.g. main~1)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each version, alternating (default 1)")
    parser.add_argument("--threads", type=int, help="passed to every imagelab run (default: the lab's choice)")
    parser.add_argument("--cache", type=Path, help="judge cache shared by all runs (default: a temporary one)")
    parser.add_argument("--keep", type=Path, help="copy the timed run folders here (default: discarded)")
    parser.add_argument("overrides", nargs="*", help="run-config overrides for both versions (default: none)")
    args = parser.parse_args()
    extra = (["--threads", str(args.threads)] if args.threads else []) + args.overrides
    base_commit = git("rev-parse", args.base)
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results")
    new_commit = git("rev-parse", "HEAD") + ("+uncommitted" if changed else "")
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        cache = args.cache or scratch / "cache"
        base_tree = scratch / "base"
        git("worktree", "add", "--detach", str(base_tree), base_commit)
        try:
            trees = {"base": base_tree, "new": REPO}
            load_before = load_average()
            for name, tree in trees.items():  # untimed: fills the shared judge cache
                run_lab(tree, scratch / f"warm-{name}", cache, [*extra, "loop.generations=0"])
            runs: dict[str, list[dict]] = {"base": [], "new": []}
            for repeat in range(args.repeats):
                for name, tree in trees.items():
                    run_dir = scratch / f"{name}-{repeat}"
                    wall = run_lab(tree, run_dir, cache, extra)
                    runs[name].append(summarize(wall, run_dir))
                    if args.keep:
                        shutil.copytree(run_dir, args.keep / run_dir.name, dirs_exist_ok=True)
                    print(f"{name} run {repeat + 1}: {wall:.1f} s (load {load_average()})", flush=True)
        finally:
            git("worktree", "remove", "--force", str(base_tree))
    median = {name: statistics.median(r["wall_seconds"] for r in done) for name, done in runs.items()}
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": "python benchmarks/default_run.py " + " ".join(sys.argv[1:]),
        "what": "imagelab run (the embedded default), judge loaded from a shared cache; base and new alternating",
        "overrides": args.overrides,
        "machine": cpu_machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "base_commit": base_commit,
        "new_commit": new_commit,
        "median_wall_seconds": median,
        "ratio_new_to_base": round(median["new"] / median["base"], 3),
        "runs": runs,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    first = {name: done[0] for name, done in runs.items()}
    print("\n| what (first run of each) | base | new |\n|---|---|---|")
    print(f"| whole command | {first['base']['wall_seconds']:.1f} | {first['new']['wall_seconds']:.1f} |")
    stages = {**first["base"]["setup_seconds"], **first["base"]["stage_seconds_all_generations"]}
    for stage in stages:
        cells = [first[v]["setup_seconds"].get(stage, first[v]["stage_seconds_all_generations"].get(stage, 0.0))
                 for v in ("base", "new")]
        print(f"| {stage} | {cells[0]:.1f} | {cells[1]:.1f} |")
    print(f"| report | {first['base']['report_seconds']:.1f} | {first['new']['report_seconds']:.1f} |")
    print(f"| imports, startup, other | {first['base']['startup_and_unaccounted_seconds']:.1f} | "
          f"{first['new']['startup_and_unaccounted_seconds']:.1f} |")
    print(f"| overhead / generator | {first['base']['overhead_fraction_of_generator']:.1%} | "
          f"{first['new']['overhead_fraction_of_generator']:.1%} |")
    print(f"\nmedian wall: base {median['base']:.1f} s, new {median['new']:.1f} s, "
          f"ratio {result['ratio_new_to_base']:.3f}"
          f"; load average before {load_before}, after {result['load_average_after']}")
    print(f"{result['machine']['cpu']}, {result['machine']['cores']} cores; written to {RESULTS}")


if __name__ == "__main__":
    main()
