"""The files a ``--seeds`` folder sums its seeds up in: aggregate.csv, survival.csv and aggregate.json.

``aggregate.csv``: one row per generation every seed reached, with ``seeds`` (how many)
and, for each numeric metrics.csv column, ``<column>_mean`` with ``<column>_ci95_low`` and
``<column>_ci95_high``: a percentile-bootstrap interval clamped to the column's range
(``metrics/intervals.py``); with fewer than five seeds also ``<column>_seeds``, every
seed's value in seed order (``0.12;0.1;0.09``). Extinction generations
(``extinct_since_<breed>``, blank while a breed is detectable) are summed up as
``extinct_since_<breed>_extinct`` (seeds in which the breed is undetectable for good by
then), ``_median`` (the median over seeds, a seed still detecting it counting as later than
any generation; blank while half the seeds or more still detect it) and ``_seeds``. The
survival table's ``surviving_<breed>`` columns come last.

``survival.csv``: per generation and breed, the share of seeds in which the breed is still
detectable (``surviving_<breed>``) and, where the resampling null applies, its exact
Wright-Fisher survival (``null_surviving_<breed>``; ``metrics/survival.py``).

``aggregate.json``: what the seeds varied (``vary``), the seeds, and how the intervals are made.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

from imagelab.experiments.tables import write_csv
from imagelab.metrics.intervals import (
    FEW_SEEDS,
    INTERVAL_METHOD,
    UNBOUNDED,
    bootstrap_interval,
    column_range,
    seed_values_text,
)
from imagelab.metrics.suite import built_in_headline, columns_of_run
from imagelab.metrics.survival import null_survival, pool_counts, survival_table
from imagelab.runs.atomic import atomic_write_text
from imagelab.runs.layout import AGGREGATE_FILE, AGGREGATE_INFO_FILE, SURVIVAL_FILE, seed_folder
from imagelab.runs.record import RunRecord, load_run

EXTINCT = "extinct_since_"
# What each --vary value varies with the seed, besides the generator's own randomness (the run seed).
VARIED = {"generator": (), "data": ("data.seed",), "all": ("data.seed", "judge.seed")}
VARY_MEANING = {
    "generator": "only the generator's randomness: every seed shares one real data draw (pool, reference, "
                 "judge splits) and one judge",
    "data": "the generator's randomness and the real data draw (pool, reference, judge splits; data.seed = "
            "the seed); the judge trains with its fixed seed on each draw",
    "all": "the generator's randomness, the real data draw (data.seed) and the judge's training seed "
           "(judge.seed), each = the seed",
}


def aggregate(rows_by_seed: dict[int, list[dict]], ranges: dict[str, tuple[float, float]] | None = None,
              survival: list[dict] | None = None) -> list[dict]:
    """Per generation every seed reached: means, bounded intervals, each seed's value with few seeds, the
    extinction summary and ``survival``'s rows (survival_table) joined on the generation."""
    ranges = ranges or {}
    by_generation = [{int(row["generation"]): row for row in rows} for rows in rows_by_seed.values()]
    common = sorted(set.intersection(*(set(rows) for rows in by_generation))) if by_generation else []
    surviving = {row["generation"]: row for row in survival or []}
    table = []
    for generation in common:
        rows = [rows[generation] for rows in by_generation]
        line: dict[str, Any] = {"generation": generation, "seeds": len(rows)}
        for column in rows[0]:
            if column == "generation":
                continue
            if column.startswith(EXTINCT):
                line.update(_extinction_summary(column, [row.get(column) for row in rows]))
            elif all(_is_number(row.get(column)) for row in rows):
                values = [float(row[column]) for row in rows]
                mean, low, high = bootstrap_interval(values, ranges.get(column, UNBOUNDED))
                line.update({f"{column}_mean": mean, f"{column}_ci95_low": low, f"{column}_ci95_high": high})
                if len(values) < FEW_SEEDS:
                    line[f"{column}_seeds"] = seed_values_text(values)
        line.update({k: v for k, v in surviving.get(generation, {}).items() if k.startswith("surviving_")})
        table.append(line)
    return table


def _extinction_summary(column: str, values: list) -> dict[str, Any]:
    """How many seeds have lost the breed for good, the median extinction generation, and each seed's."""
    generations = [float(v) if _is_number(v) else math.inf for v in values]  # inf: still detectable
    ordered = sorted(generations)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return {f"{column}_extinct": sum(math.isfinite(g) for g in generations),
            f"{column}_median": median if math.isfinite(median) else math.nan,
            f"{column}_seeds": seed_values_text(generations)}


def column_ranges(record: RunRecord) -> dict[str, tuple[float, float]]:
    """Each declared column's range (metrics/intervals.py ``column_range``), plus the undeclared ``samples``."""
    declared = {column.name: column for entry in columns_of_run(record.manifest, record.breeds)
                for column in entry.columns}
    names = set(declared) | {key for row in record.rows for key in row}
    return {name: column_range(declared.get(name), name, len(record.breeds)) for name in names}


def null_table(record: RunRecord, generations: Sequence[int]) -> dict[str, list[float]] | None:
    """The exact Wright-Fisher survival of ``record``'s breeds under the resampling null, at t = 0..max."""
    if not generations:
        return None
    counts = pool_counts(record.manifest, record.breeds, record.rows[0] if record.rows else None)
    return null_survival(counts, record.drift_population, max(generations))


def write_aggregate(out: Path, seeds: Sequence[int], vary: str = "generator") -> list[dict]:
    """Read each seed's run and write ``out``/aggregate.csv, survival.csv and aggregate.json; returns the
    aggregate's rows."""
    records = {seed: load_run(seed_folder(out, seed)) for seed in seeds}
    first = records[seeds[0]]
    rows_by_seed = {seed: record.rows for seed, record in records.items()}
    survival = survival_table(rows_by_seed, first.breeds, first.detection_floors)
    null = null_table(first, [row["generation"] for row in survival])
    for row in survival:
        for breed, curve in (null or {}).items():
            row[f"null_surviving_{breed}"] = curve[row["generation"]]
    table = aggregate(rows_by_seed, column_ranges(first), survival)
    write_csv(out / AGGREGATE_FILE, table, ["generation", "seeds"])
    write_csv(out / SURVIVAL_FILE, survival, ["generation", "seeds"])
    info = {"vary": vary, "varies": VARY_MEANING[vary], "seeds": list(seeds), "interval": INTERVAL_METHOD,
            "per_seed_values": f"<column>_seeds lists each seed's value (in the order of 'seeds') when there "
                               f"are fewer than {FEW_SEEDS} seeds",
            "survival": "surviving_<breed>: share of seeds in which the breed is still detectable (not yet "
                        "undetectable for good); null_surviving_<breed> in survival.csv: exact Wright-Fisher "
                        "survival (at least one image) of a generator that only resamples its images"
                        + ("" if null else " (not drawn for this config: no neutral population, or too large)")}
    atomic_write_text(out / AGGREGATE_INFO_FILE, json.dumps(info, indent=2) + "\n")
    return table


def read_info(out: Path) -> dict[str, Any]:
    """``out``/aggregate.json, or {} for a folder written before it existed."""
    try:
        return json.loads((out / AGGREGATE_INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def describe_final(table: list[dict], columns: Sequence[str] = built_in_headline()) -> str:
    """Lines for the terminal: the last generation's means, intervals and (few seeds) each seed's value."""
    if not table:
        return "No generation was reached by every seed."
    last = table[-1]
    lines = [f"Mean over {last['seeds']} seeds at generation {last['generation']} "
             f"(95% bootstrap interval over seeds):"]
    for column in columns:
        if f"{column}_mean" in last:
            low, high = last[f"{column}_ci95_low"], last[f"{column}_ci95_high"]
            interval = "" if math.isnan(low) else f"  [{low:.4g}, {high:.4g}]"
            each = f"  seeds: {last[f'{column}_seeds']}" if f"{column}_seeds" in last else ""
            lines.append(f"  {column:<20} {last[f'{column}_mean']:.4g}{interval}{each}")
    return "\n".join(lines)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
