"""What the `imagelab` command costs before and after its work: the imports, and the interpreter's exit.

Each measurement is a fresh Python process, so nothing is imported or cached from an earlier one:

- **imports**: ``import imagelab.cli`` (everything a run imports up front), and, for each library the
  lab cannot run without, the seconds that library adds on top of those before it in the list, in the
  order a run meets them (torch first, then torchvision, which imports ``torch._dynamo``, and so on);
- **exit**: the seconds from the last line of a script that imported ``imagelab.cli`` to the process's
  end, with the collector left as it is and with ``gc.freeze()`` called first, as the installed
  command (``imagelab.cli.entry_point``) does.

Medians of ``--repeats`` processes each, with the machine and its load, to
benchmarks/results/startup.json and a table on stdout.

    python benchmarks/startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from measuring import cpu_machine, load_average

RESULTS = Path(__file__).parent / "results" / "startup.json"

# In the order a run imports them; each one's cost is measured with those before it already imported.
LIBRARIES = ("torch", "torchvision", "timm", "torchmetrics.image.fid", "sklearn.mixture", "scipy.stats",
             "matplotlib.pyplot")

IMPORT_PROBE = """
import time, sys
for name in sys.argv[1:-1]:
    __import__(name)
start = time.perf_counter()
__import__(sys.argv[-1])
print(time.perf_counter() - start)
"""

EXIT_PROBE = """
import gc, sys, time
import imagelab.cli
if sys.argv[1] == "freeze":
    gc.freeze()
print(time.time(), flush=True)
"""


def import_seconds(before: tuple[str, ...], name: str) -> float:
    result = subprocess.run([sys.executable, "-c", IMPORT_PROBE, *before, name], capture_output=True, text=True,
                            check=True)
    return float(result.stdout)


def exit_seconds(mode: str) -> float:
    """From the probe's last line to the moment its process has ended, as seen from here."""
    process = subprocess.Popen([sys.executable, "-c", EXIT_PROBE, mode], stdout=subprocess.PIPE, text=True)
    last_line_at = float(process.stdout.readline())
    process.wait()
    ended_at = time.time()
    if process.returncode != 0:
        raise RuntimeError(f"the exit probe ({mode}) failed with status {process.returncode}")
    return ended_at - last_line_at


def median_of(repeats: int, measure) -> float:
    return round(statistics.median(measure() for _ in range(repeats)), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    load_before = load_average()
    imports = {"imagelab.cli": median_of(args.repeats, lambda: import_seconds((), "imagelab.cli"))}
    for index, name in enumerate(LIBRARIES):
        imports[name] = median_of(args.repeats, lambda: import_seconds(LIBRARIES[:index], name))
    exits = {mode: median_of(args.repeats, lambda: exit_seconds(mode)) for mode in ("collector as is", "freeze")}
    record = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": f"python benchmarks/startup.py --repeats {args.repeats}",
        "machine": cpu_machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "median_import_seconds": imports,
        "libraries_sum_seconds": round(sum(imports[name] for name in LIBRARIES), 3),
        "median_exit_seconds_after_importing_imagelab_cli": exits,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=1) + "\n")
    print("| import (each on top of those above) | median s |\n|---|---|")
    for name, seconds in imports.items():
        print(f"| {name} | {seconds:.2f} |")
    print(f"\nexit after importing imagelab.cli: {exits['collector as is']:.2f} s as is, "
          f"{exits['freeze']:.2f} s after gc.freeze()")


if __name__ == "__main__":
    main()
