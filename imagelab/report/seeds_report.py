"""The report of a ``--seeds`` folder: OUT/report/index.html, built by ``imagelab run --seeds`` and
``imagelab report OUT``.

It states what the seeds varied (aggregate.json's ``vary``) and how the intervals are
made, shows the last generation's headline numbers over seeds (mean, bounded interval,
each seed's value), the survival plot and table (the share of seeds in which each breed
is still detectable, beside the resampling null's exact Wright-Fisher survival), and
links each seed's own report. Everything it draws is in report/; the links to the seeds'
reports point next door.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from imagelab.errors import RunFolderError
from imagelab.report.columns import as_percent, headline_columns, shown
from imagelab.report.html import REPORT_DIR, render
from imagelab.report.survival_plot import plot_survival
from imagelab.runs.aggregate import seeds_of
from imagelab.runs.atomic import atomic_directory
from imagelab.runs.layout import AGGREGATE_FILE, AGGREGATE_INFO_FILE, SURVIVAL_FILE, seed_folder
from imagelab.runs.record import load_run

SURVIVAL_PLOT = "survival.png"


def build_seeds_report(root: Path) -> Path:
    """(Re)build ``root``/report/ of a seeds folder and return the path of its index.html."""
    root = Path(root).expanduser().resolve()
    seeds = seeds_of(root)
    if not seeds or not (root / AGGREGATE_FILE).is_file():
        raise RunFolderError(f"{root} is not a --seeds folder with an {AGGREGATE_FILE}")
    records = {seed: load_run(seed_folder(root, seed)) for seed in seeds}
    first = records[seeds[0]]
    aggregate = read_table(root / AGGREGATE_FILE)
    survival = read_table(root / SURVIVAL_FILE)
    info = _read_json(root / AGGREGATE_INFO_FILE)
    target = root / REPORT_DIR
    with atomic_directory(target) as out:
        for name in (AGGREGATE_FILE, SURVIVAL_FILE, AGGREGATE_INFO_FILE):
            if (root / name).is_file():
                shutil.copyfile(root / name, out / name)
        null = {breed: [row[f"null_surviving_{breed}"] for row in survival if f"null_surviving_{breed}" in row]
                for breed in first.breeds}
        null = {breed: curve for breed, curve in null.items() if curve} or None
        drawn = []
        if survival:
            drawn = plot_survival([(f"{len(seeds)} seeds", survival)], first.breeds, out / SURVIVAL_PLOT, null,
                                  first.drift_population)
        last = aggregate[-1] if aggregate else {}
        context = {
            "title": f"imagelab seeds {root.name}",
            "root": str(root),
            "generated": time.strftime("%Y-%m-%d %H:%M"),
            "summary": [("seeds", ", ".join(map(str, seeds))),
                        ("what a seed varies", f"{info.get('vary', 'generator (recorded before --vary existed)')}: "
                                               f"{info.get('varies', 'only the generator randomness')}"),
                        ("intervals", info.get("interval", "95% Student-t (written before bootstrap intervals)")),
                        ("last generation every seed reached", str(last.get("generation", "–")))],
            "final": _final_rows(first, last),
            "survival_plot": SURVIVAL_PLOT if survival else None,
            "survival": _survival_view(survival, drawn, null is not None),
            "seed_reports": [(seed, _relative(seed_folder(root, seed) / REPORT_DIR / "index.html", target))
                             for seed in seeds],
        }
        (out / "index.html").write_text(render("seeds.html", **context), encoding="utf-8")
    return target / "index.html"


def _final_rows(first, last: dict[str, Any]) -> list[dict[str, str]]:
    """The headline columns at the last generation: mean, interval and each seed's value."""
    rows = []
    for column in headline_columns([first]):
        if f"{column.name}_mean" not in last:
            continue
        low, high = last.get(f"{column.name}_ci95_low"), last.get(f"{column.name}_ci95_high")
        interval = f"[{shown(column, low)}, {shown(column, high)}]" if isinstance(low, float) else "–"
        each = str(last.get(f"{column.name}_seeds", ""))
        seeds = " · ".join(shown(column, float(v)) for v in each.split(";")) if each else "–"
        rows.append({"column": column.heading, "mean": shown(column, last[f"{column.name}_mean"]),
                     "interval": interval, "seeds": seeds})
    return rows


def _survival_view(survival: list[dict], breeds: list[str], with_null: bool) -> dict[str, Any]:
    """Generation x breed cells: the share of seeds still detecting it (and the null's survival)."""
    body = []
    for row in survival:
        cells = []
        for breed in breeds:
            cell = as_percent(row.get(f"surviving_{breed}"), 0)
            if with_null and f"null_surviving_{breed}" in row:
                cell += f" ({as_percent(row[f'null_surviving_{breed}'], 0)})"
            cells.append(cell)
        body.append({"generation": row["generation"], "cells": cells})
    return {"breeds": breeds, "rows": body, "with_null": with_null}


def read_table(path: Path) -> list[dict[str, Any]]:
    """A CSV of numbers (blank cells dropped; generation as int), or [] when it is missing."""
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        for raw in csv.DictReader(handle):
            row: dict[str, Any] = {}
            for key, value in raw.items():
                if value in ("", None):
                    continue
                try:
                    row[key] = float(value)
                except ValueError:
                    row[key] = value
            row["generation"] = int(row["generation"])
            rows.append(row)
    return rows


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _relative(page: Path, report: Path) -> str | None:
    return Path(os.path.relpath(page, report)).as_posix() if page.is_file() else None

