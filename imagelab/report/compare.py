"""`imagelab compare RUN... --out DIR`: several runs on one static page.

The page overlays the runs' curves (a few breeds' shares, unrecognized, FID,
breeds alive; one line per run; a ``--seeds`` folder counts as one run, its means),
lists their final headline metrics (report/columns.py) side by side and the config
keys in which they differ. DIR is replaced as a whole, so it must be new,
empty, or an earlier comparison (recognised by its marker file); a run folder is
never overwritten.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Sequence

from imagelab.errors import UserError
from imagelab.metrics.metric import Column
from imagelab.report import plots
from imagelab.report.columns import headline_columns, shown
from imagelab.report.html import extinctions, render
from imagelab.runs.aggregate import is_aggregate, load_aggregate
from imagelab.runs.atomic import atomic_directory
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
        context = {
            "title": f"imagelab comparison of {len(records)} runs",
            "generated": time.strftime("%Y-%m-%d %H:%M"),
            "plot": "runs.png" if measured else None,
            "breeds": breeds,
            "headline": [column.heading for column in headline],
            "runs": [_run_view(label, record, out, headline) for label, record in zip(labels, records)],
            "differences": config_differences([r.config for r in records]),
            "labels": labels,
        }
        (temp / "index.html").write_text(render("compare.html", **context), encoding="utf-8")
    return out / "index.html"


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
