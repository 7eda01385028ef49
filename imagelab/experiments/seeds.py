"""Many seeds of one lab: a run per seed in ``OUT/seed_<s>/`` and their aggregate.

``OUT/aggregate.csv`` has one row per generation that every seed reached, with the
number of seeds and, for each numeric metrics.csv column, the mean over seeds and a
95% confidence interval for it (Student's t with n - 1 degrees of freedom; blank for
a single seed). An aggregate folder can be handed to ``imagelab compare`` like a run:
its curves are the means.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Sequence

from scipy import stats

from imagelab.errors import ConfigError, RunFolderError
from imagelab.metrics.suite import built_in_headline
from imagelab.runs.record import load_run
from imagelab.runs.layout import AGGREGATE_FILE, CONFIG_FILE, MANIFEST_FILE, SEEDS_MARKER, seed_folder
from imagelab.runs.atomic import atomic_write_text
from imagelab.runs.folder import claim_folder_of_runs

CONFIDENCE = 0.95


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> [0, 1, 2]; distinct non-negative integers."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError("--seeds", f"must be comma-separated integers, e.g. 0,1,2,3,4; got {text!r}") from None
    if not seeds or any(seed < 0 for seed in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError("--seeds", f"must list distinct non-negative integers, e.g. 0,1,2,3,4; got {text!r}")
    return seeds


def prepare_folder(out: Path, seeds: Sequence[int]) -> None:
    """Make ``out`` a seeds folder: new, empty, or one made by an earlier ``--seeds`` run."""
    if (out / CONFIG_FILE).exists() or (out / MANIFEST_FILE).exists():
        raise RunFolderError(f"{out} holds a single run; choose another --out for a --seeds run")
    claim_folder_of_runs(out, SEEDS_MARKER, "--seeds run",
                         f"runs of one config with seeds {','.join(map(str, seeds))}, made by `imagelab run --seeds`\n")


def aggregate(rows_by_seed: dict[int, list[dict]]) -> list[dict]:
    """Mean and 95% confidence interval over seeds, per generation and numeric column."""
    by_generation = [{int(row["generation"]): row for row in rows} for rows in rows_by_seed.values()]
    common = sorted(set.intersection(*(set(rows) for rows in by_generation))) if by_generation else []
    table = []
    for generation in common:
        rows = [rows[generation] for rows in by_generation]
        columns = [c for c in rows[0] if c != "generation" and all(_is_number(row.get(c)) for row in rows)]
        line: dict = {"generation": generation, "seeds": len(rows)}
        for column in columns:
            mean, low, high = mean_interval([float(row[column]) for row in rows])
            line.update({f"{column}_mean": mean, f"{column}_ci95_low": low, f"{column}_ci95_high": high})
        table.append(line)
    return table


def mean_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """The mean and its 95% t-interval (NaN bounds for one value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def write_aggregate(out: Path, seeds: Sequence[int]) -> list[dict]:
    """Read each seed's metrics.csv and write ``out``/aggregate.csv; returns its rows."""
    rows_by_seed = {seed: load_run(seed_folder(out, seed)).rows for seed in seeds}
    table = aggregate(rows_by_seed)
    columns: list[str] = []
    for row in table:
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns or ["generation", "seeds"], lineterminator="\n")
    writer.writeheader()
    writer.writerows([{k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()} for row in table])
    atomic_write_text(out / AGGREGATE_FILE, buffer.getvalue())
    return table


def describe_final(table: list[dict], columns: Sequence[str] = built_in_headline()) -> str:
    """Lines for the terminal: the last generation's means and intervals."""
    if not table:
        return "No generation was reached by every seed."
    last = table[-1]
    lines = [f"Mean over {last['seeds']} seeds at generation {last['generation']} (95% confidence interval):"]
    for column in columns:
        if f"{column}_mean" in last:
            low, high = last[f"{column}_ci95_low"], last[f"{column}_ci95_high"]
            interval = "" if math.isnan(low) else f"  [{low:.4g}, {high:.4g}]"
            lines.append(f"  {column:<20} {last[f'{column}_mean']:.4g}{interval}")
    return "\n".join(lines)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
