"""The README's table of the five published directions, made from the recorded claims of the
published-directions sweep (benchmarks/published_directions.py writes them).

    python scripts/directions_table.py                   # print the Markdown table
    python scripts/directions_table.py --readme README.md   # replace the table between the README's markers

The table goes between the lines ``<!-- directions-table:start -->`` and ``<!-- directions-table:end -->``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "published_directions"
START, END = "<!-- directions-table:start -->", "<!-- directions-table:end -->"


def number(text: str) -> str:
    value = float(text) if text not in ("", None) else math.nan
    if not math.isfinite(value):
        return "–"
    text = f"{value:+.3g}" if abs(value) < 1000 else f"{value:+,.0f}"
    return text.replace("-", "−")  # the typographic minus, as the rest of the README writes it


def table(claims: list[dict], run: dict | None) -> str:
    lines = ["| direction | the paper's claim | quantity (B − A) | measured: mean [95% interval] | "
             "seeds in the claimed direction | verdict |",
             "|---|---|---|---|---|---|"]
    for row in claims:
        since = f" − generation {row['since']}" if row["since"] else ""
        quantity = f"`{row['metric']}` at generation {row['generation']}{since}; A: {row['A']}; B: {row['B']}"
        measured = (f"{number(row['difference_mean'])} [{number(row['difference_ci95_low'])}, "
                    f"{number(row['difference_ci95_high'])}]")
        paper = f"{row['claim']} ({row['paper']})" if row["paper"] else row["claim"]
        lines.append(f"| {row['direction']} | {paper} | {quantity} | {measured} | "
                     f"{row['seeds_in_direction']} of {row['seeds']} | **{row['verdict']}** |")
    if run:
        machine = run["machine"]
        load = machine.get("load_average_before")
        failed = run.get("failed_runs", [])
        lines += ["", f"Measured with `{run['command']}` on {run['started_utc'][:10]}: "
                      f"{run['wall_seconds'] / 60:.0f} minutes on {machine['cpus']} cores ({machine['cpu']})"
                      + (f", load average {load[0]:g} before" if load else "")
                      + (f"; {len(failed)} runs failed and are left out of their claims" if failed else "")
                      + ". `benchmarks/results/published_directions/` holds every number."]
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    if START not in text or END not in text or text.index(START) > text.index(END):
        raise SystemExit(f"the README has no '{START}' ... '{END}' block to replace")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{block}\n{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder with claims.csv (and run.json)")
    parser.add_argument("--readme", type=Path, help="write the table into this file's marked block")
    args = parser.parse_args()
    with open(args.results / "claims.csv") as handle:
        claims = list(csv.DictReader(handle))
    run_file = args.results / "run.json"
    block = table(claims, json.loads(run_file.read_text()) if run_file.is_file() else None)
    if args.readme:
        args.readme.write_text(replace_block(args.readme.read_text(), block))
        print(f"table written into {args.readme}")
    else:
        print(block)


if __name__ == "__main__":
    main()
