"""The run report: RUN_DIR/report/index.html, a static folder that opens from the file system.

Everything the page shows is copied or drawn into report/ (plots, each
generation's grids, the breed x generation mosaic, an animated GIF, metrics.csv,
config.yaml) and linked relatively, so the folder can be moved, zipped or served
as is; it loads nothing from the network. The folder is built under a temporary
name and renamed into place. Whatever the run lacks (a killed run, a run still
going, a deleted file) is listed on the page and drawn as missing, never an error.
Names from data (breeds, run folders) reach the page only through Jinja2's
autoescaping.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from imagelab.metrics.extinction import extinctions as breed_extinctions
from imagelab.report import mosaic, plots
from imagelab.report.columns import (
    as_count,
    as_number,
    as_percent,
    declared_columns,
    headline_columns,
    is_number,
    shown,
)
from imagelab.report.distinct_plot import plot_distinct
from imagelab.runs.atomic import atomic_directory
from imagelab.runs.layout import BREEDS_FILE, GRID_FILE
from imagelab.runs.record import (
    UNRECOGNIZED,
    GenerationRecord,
    RunRecord,
    load_run,
    mapping,
    number,
)

REPORT_DIR = "report"
MOSAIC_PER_CELL = 4  # samples per breed x generation cell (a 2 x 2 tile)
MOSAIC_MAX_COLUMNS = 12  # longer runs show evenly spaced generations, first and last included
ANIMATION_MAX_FRAMES = 60

_ENVIRONMENT = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                           undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(template: str, **context: Any) -> str:
    """A page from templates/ with every value autoescaped."""
    return _ENVIRONMENT.get_template(template).render(**context)


def build_report(run_dir: Path) -> Path:
    """(Re)build ``run_dir``/report/ and return the path of its index.html."""
    record = load_run(run_dir)
    target = record.root / REPORT_DIR
    with atomic_directory(target) as out:
        context = _report_context(record, out)
        (out / "index.html").write_text(render("report.html", **context), encoding="utf-8")
    return target / "index.html"


def _report_context(record: RunRecord, out: Path) -> dict[str, Any]:
    """Write the page's files into ``out`` and return what the template shows."""
    for name in ("metrics.csv", "config.yaml"):
        if (record.root / name).is_file():
            shutil.copyfile(record.root / name, out / name)
    extinct_at = extinctions(record)
    return {
        "title": f"imagelab run {record.name}",
        "run": record,
        "generated": time.strftime("%Y-%m-%d %H:%M"),
        "summary": _summary(record),
        "warnings": run_warnings(record),
        "durations": _durations(record),
        "problems": record.problems + _missing_generations(record.generations),
        "fates": _fates(record, extinct_at),
        "plots": _plots(record, out, extinct_at),
        "generations": _generation_views(record, out),
        "mosaic": _mosaic(record, out, extinct_at),
        "animation": _animation(record, out),
        "table": metrics_table(record),
        "every_column": every_column(record),
        "config_text": (out / "config.yaml").read_text(encoding="utf-8") if (out / "config.yaml").exists() else None,
        "has_metrics_csv": (out / "metrics.csv").exists(),
    }


def run_warnings(record: RunRecord) -> list[str]:
    """The run's warnings (manifest ``warnings``, e.g. a judge too weak to count breeds), as messages."""
    listed = record.manifest.get("warnings")
    entries = listed if isinstance(listed, list) else []
    return [str(mapping(entry).get("message", entry)) for entry in entries]


def extinctions(record: RunRecord) -> dict[str, int | None]:
    """Each breed's generation from which it is undetectable (None while detectable), over the rows with its share."""
    return breed_extinctions(record.rows, record.detection_floors)


# --- summary -----------------------------------------------------------------------------------


def _summary(record: RunRecord) -> list[tuple[str, str]]:
    config, judge = record.config, record.judge
    data, loop = record.section("data"), record.section("loop")
    # The mix regime's setting lives in its own section; runs made before that kept it under loop.
    real_fraction = record.section("regime").get("real_fraction", loop.get("real_fraction"))
    last = record.rows[-1] if record.rows else None
    planned = record.planned_generations
    done = sum(1 for g in record.generations if g.row is not None and g.generation > 0)
    return [
        ("status", record.status),
        ("generator", str(record.section("generator").get("name", "–"))),
        ("regime", f"{loop.get('regime', '–')}" + (f", real fraction {real_fraction:g}" if real_fraction else "")),
        ("generations", f"{done} of {planned if planned is not None else '?'} measured (plus the real pool)"),
        ("data", f"{data.get('name', '–')}, {len(record.breeds)} breeds, {data.get('resolution', '?')} px"),
        ("samples per generation", as_count(record.samples_per_generation)),
        ("judge", f"{judge.get('model', '–')}, held-out accuracy {as_percent(judge.get('accuracy'))}"
                  + (f" ({origin})" if (origin := mapping(record.manifest.get("judge")).get("origin")) else "")),
        ("breeds detectable at the end", f"{as_count(number(last, 'breeds_alive'))} of {len(record.breeds)} "
                                         f"({_detection_rule(record)})"),
        ("FID, first → last", f"{as_number(number(record.rows[0] if record.rows else None, 'fid'))} → "
                              f"{as_number(number(last, 'fid'))}"),
        ("seed, device", f"{config.get('seed', '–')}, {config.get('device', '–')}"),
        ("created", str(record.manifest.get("created", "–")).replace("T", " ")),
    ]


def _durations(record: RunRecord) -> list[tuple[str, str]]:
    """Seconds per setup step and per stage kind, summed over generations."""
    rows = []
    setup = {key: mapping(value) for key, value in mapping(record.manifest.get("setup")).items()}
    for key, label in (("data", "data"), ("judge_training", "judge"), ("reference_features", "reference features")):
        if key in setup:
            origin = setup[key].get("origin")
            rows.append((label + (f" ({origin})" if origin else ""), _seconds(setup[key].get("seconds"))))
    for stage in ("fit", "sample", "judge", "metrics"):
        spent = [_or_zero(g.stages[stage].get("seconds")) for g in record.generations if stage in g.stages]
        if spent:
            rows.append((f"{stage}, all generations", _seconds(sum(spent))))
    total = sum(_or_zero(v.get("seconds")) for v in setup.values()) + sum(g.seconds for g in record.generations)
    rows.append(("total", _seconds(total)))
    return rows


def _missing_generations(generations: Sequence[GenerationRecord]) -> list[str]:
    """One line per incomplete generation; consecutive generations missing everything are merged."""
    lines, pending = [], []
    for g in generations:
        if g.row is None and not g.files:
            pending.append(g.generation)
            continue
        if pending:
            lines.append(_not_run(pending))
            pending = []
        if g.missing:
            lines.append(f"generation {g.generation}: missing {', '.join(g.missing)}")
    if pending:
        lines.append(_not_run(pending))
    return lines


def _not_run(generations: list[int]) -> str:
    span = f"{generations[0]}" if len(generations) == 1 else f"{generations[0]}–{generations[-1]}"
    return f"generation{'s' if len(generations) > 1 else ''} {span}: not run (no metrics, samples or grids)"


def _fates(record: RunRecord, extinct_at: dict[str, int | None]) -> list[dict[str, str]]:
    if not record.rows:
        return []
    last = record.rows[-1]
    fates = []
    for breed in (*record.breeds, UNRECOGNIZED):
        shares = [number(row, f"share_{breed}") for row in record.rows]
        lost = extinct_at.get(breed)
        fate = "detectable" if lost is None else f"undetectable from generation {lost}"
        fates.append({"name": breed, "first": as_percent(shares[0]),
                      "last": as_percent(number(last, f"share_{breed}")),
                      "lowest": as_percent(min((s for s in shares if not math.isnan(s)), default=math.nan)),
                      "fate": "–" if breed == UNRECOGNIZED else fate, "lost": lost is not None})
    return fates


def metrics_table(record: RunRecord) -> dict[str, list]:
    """Per-generation numbers: the run's headline columns and the seconds each stage took."""
    columns = headline_columns([record])
    stages = ("fit", "sample", "judge", "metrics")
    body = []
    for g in record.generations:
        cells = [shown(column, number(g.row, column.name)) if g.row else "missing" for column in columns]
        cells += [_seconds(g.stages[s].get("seconds")) if s in g.stages else "–" for s in stages]
        body.append({"generation": g.generation, "cells": cells, "missing": g.row is None})
    return {"header": [column.heading for column in columns] + [f"{s} s" for s in stages], "rows": body}


def every_column(record: RunRecord) -> list[dict[str, Any]]:
    """Each metric's columns over the measured generations: one generation x column table for its own
    columns, one breed x generation table per family of per-breed columns (``kid_<breed>``, ...)."""
    measured = [g for g in record.generations if g.row is not None]
    generations = [f"gen {g.generation}" for g in measured]
    views = []
    for declared in declared_columns(record):
        plain = [column for column in declared.columns if column.breed is None]
        tables = []
        if plain:
            rows = [(str(g.generation), [shown(c, number(g.row, c.name)) for c in plain]) for g in measured]
            tables.append({"corner": "generation", "header": [c.name for c in plain], "rows": rows})
        breed_columns = [column for column in declared.columns if column.breed is not None]
        for family in dict.fromkeys(column.family for column in breed_columns):
            members = [column for column in breed_columns if column.family == family]
            rows = [(c.breed, [shown(c, number(g.row, c.name)) for g in measured]) for c in members]
            tables.append({"corner": f"{family}_<breed>", "header": generations, "rows": rows})
        views.append({"name": declared.metric, "description": declared.description, "tables": tables})
    return views


# --- images ------------------------------------------------------------------------------------


def _plots(record: RunRecord, out: Path, extinct_at: dict[str, int | None]) -> list[dict[str, str]]:
    """The three plots of a run, drawn only once some generation has been measured."""
    if not record.rows:
        return []
    (out / "plots").mkdir()
    population = record.drift_population
    plots.plot_breed_shares(record.rows, record.breeds, out / "plots" / "shares.png", drift_population=population)
    plots.plot_quality(record.rows, out / "plots" / "quality.png", num_breeds=len(record.breeds))
    plots.plot_share_heatmap(record.rows, record.breeds, out / "plots" / "heatmap.png",
                             generations=[g.generation for g in record.generations], extinct_at=extinct_at)
    has_distinct = plot_distinct(record.rows, record.breeds, out / "plots" / "distinct.png", population)
    drift = (f" Neutral reference: a generator that only resampled its {population:,} images (Wright–Fisher drift) "
             "keeps each share's mean (dashed boundaries, left) and stays within ±2 SD roughly 95% of the time "
             "(dotted, left; shaded for the most common and the rarest breeds, right)." if population else
             " No neutral-drift band: it applies to the replace regime without real data only.")
    return [
        {"src": "plots/shares.png", "alt": "breed shares per generation",
         "caption": "Breed shares per generation: stacked (left) and each breed on a log scale (right)." + drift},
        {"src": "plots/quality.png", "alt": "FID, coverage and breeds alive per generation",
         "caption": "FID of each generation's samples to held-out real data (judge features); coverage, the share of "
                    "real images whose k-NN ball holds a sample (bold: all; thin: each breed's real images), and "
                    "precision, the share of samples inside the real k-NN balls; and the number of breeds whose count "
                    "is more than the judge's errors alone could give (docs/metrics.md, Detectability)."},
        {"src": "plots/heatmap.png", "alt": "breed by generation heat map of shares",
         "caption": "Share of each breed per generation (%). A red frame marks the generation from which a breed "
                    "stays undetectable (its count within the judge's errors); crosses follow it. Hatched columns are "
                    "missing generations."},
    ] + ([{"src": "plots/distinct.png", "alt": "distinct images per generation, overall and per breed",
           "caption": "Distinct images among each generation's samples, all and per judged breed: copies and "
                      "near-copies count once (docs/metrics.md, Distinct images)." + (
                          f" Grey: what a generator that only resampled its {population:,} images would keep "
                          "(median dashed, 95% band shaded; 1,000 simulated chains): a line inside the band has "
                          "lost no more variety than drift alone." if population else
                          " No null band: it applies to the replace regime without real data only.")}]
          if has_distinct else [])


def _generation_views(record: RunRecord, out: Path) -> list[dict[str, Any]]:
    """Each generation's grids (copied into report/gen_XXX/) and its headline numbers, for the viewer."""
    headline = headline_columns([record])
    views = []
    for g in record.generations:
        images = {}
        for name in (GRID_FILE, BREEDS_FILE):
            if name in g.files:
                relative = f"{g.folder.name}/{name}"
                (out / g.folder.name).mkdir(exist_ok=True)
                shutil.copyfile(g.files[name], out / relative)
                images[name] = relative
        row = g.row
        facts = [] if row is None else [(c.heading, shown(c, number(row, c.name))) for c in headline]
        if row is not None:
            facts += [("samples", as_count(number(row, "samples"))),
                      ("time", _seconds(g.seconds) if g.stages else "–")]
        views.append({"generation": g.generation, "id": f"gen-{g.generation}",
                      "title": "real pool (generation 0)" if g.generation == 0 else f"generation {g.generation}",
                      "grid": images.get(GRID_FILE), "breeds": images.get(BREEDS_FILE), "facts": facts,
                      "missing": g.missing})
    return views


def _mosaic(record: RunRecord, out: Path, extinct_at: dict[str, int | None]) -> dict[str, Any] | None:
    """Breed x generation cells as small PNGs (report/mosaic/), the table that shows them, and mosaic.png."""
    if not record.generations or not record.breeds:
        return None
    chosen = mosaic.spaced([g.generation for g in record.generations], MOSAIC_MAX_COLUMNS)
    by_generation = {g.generation: g for g in record.generations}
    judged = mosaic.load_generations([by_generation[generation] for generation in chosen])
    cells = mosaic.mosaic_cells(judged, len(record.breeds), MOSAIC_PER_CELL)
    (out / "mosaic").mkdir()
    names = [*record.breeds, UNRECOGNIZED]
    rows = []
    for index, name in enumerate(names):
        lost = extinct_at.get(name) if index < len(record.breeds) else None
        row_cells = []
        for generation in chosen:
            share = number(by_generation[generation].row, f"share_{name}")
            cell = cells.get((index, generation))
            state = "missing" if cell is None else ("empty" if cell[1] == 0 else "ok")
            if lost is not None and generation >= lost:
                state += " extinct"
            view = {"state": state, "share": as_percent(share), "src": None, "count": cell[1] if cell else 0}
            if cell is not None and cell[1] > 0:
                view["src"] = f"mosaic/r{index}_g{generation}.png"
                mosaic.save_tile(cell[0], out / view["src"])
            row_cells.append(view)
        rows.append({"name": name, "cells": row_cells, "lost": lost})
    has_sheet = bool(cells)
    if has_sheet:
        mosaic.mosaic_sheet(cells, names, chosen, out / "mosaic.png")
    return {"generations": chosen, "rows": rows, "sheet": "mosaic.png" if has_sheet else None,
            "per_cell": MOSAIC_PER_CELL, "all_shown": len(chosen) == len(record.generations)}


def _animation(record: RunRecord, out: Path) -> str | None:
    """grids.gif of every generation's grid.png (evenly spaced ones for a long run), or None without any."""
    frames = [(g.generation, g.files[GRID_FILE]) for g in record.generations if GRID_FILE in g.files]
    frames = [frames[i] for i in mosaic.spaced(range(len(frames)), ANIMATION_MAX_FRAMES)]
    return "grids.gif" if mosaic.grids_gif(frames, out / "grids.gif") else None


# --- formatting (columns.py formats metric values) -----------------------------------------------


def _detection_rule(record: RunRecord) -> str:
    """How the run told a breed's presence from judge error: the errors-only test, or a share floor."""
    settings = record.section("eval")
    if settings.get("detection_floor") is None and any(
            f"detectable_{breed}" in row for row in record.rows for breed in record.breeds):
        alpha = settings.get("detection_alpha", 0.05)
        return f"count above what the judge's errors alone could give, false alarms at most {as_percent(alpha)}"
    return f"share at least the detection floor, {_floor_range(record.detection_floors)}"


def _floor_range(floors: dict[str, float]) -> str:
    """"0.33%" when every breed has the same floor, else "0.33-0.45% per breed"."""
    if not floors:
        return "–"
    low, high = min(floors.values()), max(floors.values())
    return as_percent(low, 2) if high - low < 5e-5 else f"{100 * low:.2f}–{100 * high:.2f}% per breed"


def _seconds(value: Any) -> str:
    if not is_number(value):
        return "–"
    value = float(value)
    return f"{value:.1f} s" if value < 60 else f"{int(value // 60)} min {value % 60:02.0f} s"


def _or_zero(value: Any) -> float:
    return float(value) if is_number(value) else 0.0
