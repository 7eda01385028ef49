"""`imagelab compare RUN... --out DIR`: several runs on one static page.

The page overlays the runs' curves (a few breeds' shares, unrecognized, FID,
breeds alive; one line per run; a ``--seeds`` folder counts as one run, its means),
lists their final headline metrics (report/columns.py) side by side and the config
keys in which they differ. It draws each run's survival (per breed, the share of its
seeds in which the breed is still detectable; a single run's is 0 or 1) beside the
resampling null's exact Wright-Fisher survival, and, for runs that differ in one
setting and share seeds (report/paired.py says how they are paired), the paired
difference B - A per seed with its interval: the last generation on the page, every
generation in ``paired.csv``. DIR is replaced as a whole, so it must be new,
empty, or an earlier comparison (recognised by its marker file); a run folder is
never overwritten.
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from pathlib import Path
from typing import Any, Sequence

from imagelab.errors import UserError
from imagelab.metrics.intervals import seed_values_text
from imagelab.metrics.metric import Column
from imagelab.metrics.survival import null_survival, pool_counts, survival_table
from imagelab.report import plots
from imagelab.report.columns import as_number, as_percent, headline_columns, shown
from imagelab.report.html import extinctions, render
from imagelab.report.paired import Pairing, paired_rows, pairings, seed_groups
from imagelab.report.seeds_report import read_table
from imagelab.report.survival_plot import plot_survival
from imagelab.runs.aggregate import is_aggregate, load_aggregate, seeds_of
from imagelab.runs.atomic import atomic_directory, atomic_write_text
from imagelab.runs.layout import SURVIVAL_FILE, seed_folder
from imagelab.runs.record import RunRecord, load_run, number

MARKER = ".imagelab-comparison"
SHARE_PANELS = 3  # breeds whose shares are overlaid: the most common, a middle one, the rarest


class ComparisonError(UserError):
    """An output folder that a comparison may not replace."""


def build_comparison(run_dirs: Sequence[Path], out: Path) -> Path:
    """Write ``out``/index.html comparing ``run_dirs``; returns its path."""

    # A --seeds folder stands for the mean of its seeds; RunFolderError for a missing or non-run folder.
    records = [load_aggregate(Path(d)) if is_aggregate(Path(d)) else load_run(Path(d)) for d in run_dirs]
    out = Path(out).expanduser().resolve()
    _check_output(out, records)
    labels = run_labels([r.root for r in records])
    with atomic_directory(out) as temp:
        (temp / MARKER).write_text("made by `imagelab compare`; "
                                   "the next comparison written here replaces this folder\n")
        measured = [(label, r.rows) for label, r in zip(labels, records) if r.rows]
        breeds = chosen_breeds(next((r for r in records if r.rows), None))
        headline = headline_columns(records)  # of any of the runs, each once
        if measured:
            plots.plot_runs_overlaid(measured, breeds, temp / "runs.png")
        survival = _survival_plot(records, labels, temp / "survival.png") if measured else None
        paired = _paired_views(records, labels, headline, temp / "paired.csv")
        context = {
            "title": f"imagelab comparison of {len(records)} runs",
            "generated": time.strftime("%Y-%m-%d %H:%M"),
            "plot": "runs.png" if measured else None,
            "breeds": breeds,
            "headline": [column.heading for column in headline],
            "runs": [_run_view(label, record, out, headline) for label, record in zip(labels, records)],
            "differences": config_differences([r.config for r in records]),
            "survival": survival,
            "paired": paired,
            "paired_csv": "paired.csv" if paired else None,
            "labels": labels,
        }
        (temp / "index.html").write_text(render("compare.html", **context), encoding="utf-8")
    return out / "index.html"


def _survival_plot(records: Sequence[RunRecord], labels: Sequence[str], path: Path) -> dict[str, Any] | None:
    """survival.png: each run's survival (a --seeds folder's survival.csv, a run's own 0/1), the null beside it."""
    breeds = next((r.breeds for r in records if r.breeds), ())
    curves = []
    null, population = None, None
    for label, record in zip(labels, records):
        single = load_run(seed_folder(record.root, seeds_of(record.root)[0])) if is_aggregate(record.root) else record
        table = read_table(record.root / SURVIVAL_FILE) if is_aggregate(record.root) else []
        if not table and single.rows:
            runs = ({seed: load_run(seed_folder(record.root, seed)).rows for seed in seeds_of(record.root)}
                    if is_aggregate(record.root) else {0: single.rows})
            table = survival_table(runs, single.breeds, single.detection_floors)
        if table:
            curves.append((label, table))
        if null is None and single.drift_population and table:
            counts = pool_counts(single.manifest, single.breeds, single.rows[0] if single.rows else None)
            null = null_survival(counts, single.drift_population, max(row["generation"] for row in table))
            population = single.drift_population if null else None
    if not curves or not breeds:
        return None
    drawn = plot_survival(curves, breeds, path, null, population)
    return {"src": path.name, "breeds": drawn, "null": null is not None}


def _paired_views(records: Sequence[RunRecord], labels: Sequence[str], headline: Sequence[Column],
                  csv_path: Path) -> list[dict[str, Any]]:
    """Each pairing's last-generation table for the page; every generation's differences go to ``csv_path``."""
    views, lines = [], []
    num_breeds = max((len(r.breeds) for r in records), default=0)
    for pairing in pairings(seed_groups(records, labels)):
        rows = paired_rows(pairing, headline, num_breeds)
        if not rows:
            continue
        name = f"{_group_label(pairing.second.labels)} − {_group_label(pairing.first.labels)}"
        for row in rows:
            lines.append({"pair": name, "generation": row["generation"], "column": row["column"].name,
                          "seeds": ";".join(map(str, row["seeds"])), "A": seed_values_text(row["A"]),
                          "B": seed_values_text(row["B"]), "difference_per_seed": seed_values_text(row["differences"]),
                          "difference_mean": row["mean"], "difference_ci95_low": row["low"],
                          "difference_ci95_high": row["high"]})
        last = max(row["generation"] for row in rows)
        views.append(_pairing_view(name, pairing, [row for row in rows if row["generation"] == last], last))
    if lines:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(lines[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows([{k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in line.items()}
                          for line in lines])
        atomic_write_text(csv_path, buffer.getvalue())
    return views


def _pairing_view(name: str, pairing: Pairing, rows: list[dict], generation: int) -> dict[str, Any]:
    return {
        "name": name, "generation": generation, "seeds": ", ".join(map(str, pairing.seeds)),
        "differences": pairing.differences,
        "rows": [{"column": row["column"].heading,
                  "per_seed": " · ".join(_difference(row["column"], v) for v in row["differences"]),
                  "mean": _difference(row["column"], row["mean"]),
                  "interval": "–" if math.isnan(row["low"]) else
                  f"[{_difference(row['column'], row['low'])}, {_difference(row['column'], row['high'])}]"}
                 for row in rows],
    }


def _difference(column: Column, value: float) -> str:
    """A difference in the column's unit (percentage points for shares), with its sign."""
    text = as_percent(value) if column.style == "percent" else as_number(value)
    return text if text.startswith("-") or text == "–" else f"+{text}"


def _group_label(labels: Sequence[str]) -> str:
    return labels[0] if len(labels) == 1 else f"{labels[0]} (+{len(labels) - 1} runs)"


def _check_output(out: Path, records: list[RunRecord]) -> None:
    for record in records:
        if out == record.root or out in record.root.parents:
            raise ComparisonError(f"--out {out} holds the run {record.root}; choose a folder outside the runs")
    if out.exists() and not out.is_dir():
        raise ComparisonError(f"--out {out} is a file; choose a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ComparisonError(f"--out {out} is not empty and holds no earlier comparison; choose a new or empty folder")


def run_labels(roots: Sequence[Path]) -> list[str]:
    """Short unique names: each folder's name, with as many parent folders as it takes to tell them apart."""
    depth = 1
    while True:
        labels = ["/".join(root.parts[-depth:]) for root in roots]
        if len(set(labels)) == len(labels) or depth >= max(len(root.parts) for root in roots):
            break
        depth += 1
    seen: dict[str, int] = {}
    unique = []
    for label in labels:  # the same folder given twice
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return unique


def chosen_breeds(record: RunRecord | None) -> list[str]:
    """The most common, a middle and the rarest breed of a run's generation 0."""
    if record is None or not record.breeds:
        return []
    first = record.rows[0]
    ranked = sorted(record.breeds, key=lambda breed: -_or_zero(number(first, f"share_{breed}")))
    picks = [ranked[0], ranked[len(ranked) // 2], ranked[-1]]
    return list(dict.fromkeys(picks))[:SHARE_PANELS]


def _run_view(label: str, record: RunRecord, out: Path, headline: Sequence[Column]) -> dict[str, Any]:
    last = record.rows[-1] if record.rows else None
    lost = extinctions(record).items()
    report = record.root / "report" / "index.html"
    planned = record.planned_generations
    return {
        "label": label,
        "path": str(record.root),
        "report": Path(os.path.relpath(report, out)).as_posix() if report.exists() else None,
        "status": record.status,
        "generator": str(record.section("generator").get("name", "–")),
        "regime": str(record.section("loop").get("regime", "–")),
        "generations": f"{last['generation'] if last else '–'} / {planned if planned is not None else '?'}",
        "samples": _format(record.samples_per_generation, "{:,}"),
        "judge": _format(record.judge.get("accuracy"), "{:.1%}"),
        "headline": [shown(column, number(last, column.name)) for column in headline],
        "lost": [(breed, generation) for breed, generation in lost if generation is not None],
        "problems": len(record.problems) + sum(1 for g in record.generations if g.missing),
    }


def config_differences(configs: Sequence[dict]) -> list[tuple[str, list[str]]]:
    """Dotted config keys whose values are not the same in every run, with each run's value."""
    flat = [_flatten(config) for config in configs]
    keys = list(dict.fromkeys(key for config in flat for key in config))
    differing = []
    for key in keys:
        values = [config.get(key, "–") for config in flat]
        if len({repr(v) for v in values}) > 1:
            differing.append((key, [str(v) for v in values]))
    return differing


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        flat: dict[str, Any] = {}
        for key, value in tree.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): tree}


def _or_zero(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def _format(value: Any, pattern: str) -> str:
    if isinstance(value, (int, float)) and not math.isnan(value):
        return pattern.format(value)
    return "–"
