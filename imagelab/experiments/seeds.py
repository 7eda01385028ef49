"""Many seeds of one lab: a run per seed in ``OUT/seed_<s>/`` and their aggregate.

``OUT/aggregate.csv`` has one row per generation that every seed reached, with the
number of seeds and, for each numeric metrics.csv column, the mean over seeds and a
95% confidence interval for it (Student's t with n - 1 degrees of freedom; blank for
a single seed). An aggregate folder can be handed to ``imagelab compare`` like a run:
its curves are the means.

    imagelab.run_seeds("toy-vae", seeds=[0, 1, 2], out="runs/toy-seeds")   # = imagelab run --seeds 0,1,2
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scipy import stats

from imagelab import lab
from imagelab.config import RunConfig
from imagelab.errors import ConfigError, RunFolderError, RunsFailedError
from imagelab.experiments.jobs import Job, check_jobs, refuse_jobs_when_launched, run_side_by_side, run_status
from imagelab.lab import ConfigSource, Run
from imagelab.metrics.suite import built_in_headline
from imagelab.preflight import check_before_run
from imagelab.runs.atomic import atomic_write_text
from imagelab.runs.folder import claim_folder_of_runs
from imagelab.runs.layout import (
    AGGREGATE_FILE,
    CONFIG_FILE,
    JOB_LOGS_DIR,
    MANIFEST_FILE,
    SEEDS_MARKER,
    seed_folder,
)
from imagelab.runs.record import load_run

CONFIDENCE = 0.95


@dataclass
class SeedRuns:
    """What ``run_seeds`` made: the folder, each seed's run, and the aggregate's rows."""

    root: Path  # holds seed_<s>/ and aggregate.csv
    runs: dict[int, Run]  # by seed, in the order given
    aggregate: list[dict]  # aggregate.csv's rows (empty in the other processes of a multi-process launch)


def run_seeds(config: ConfigSource = None, *, seeds: Sequence[int] | str,
              out: str | os.PathLike | None = None, overrides: Sequence[str] = (), jobs: int = 1,
              threads: int | None = None, allow_code_change: bool = False) -> SeedRuns:
    """One run per seed in ``out``/seed_<s>/ (each resumable), then ``out``/aggregate.csv.

    ``seeds``: distinct non-negative integers, or their comma-separated text (``"0,1,2"``).
    ``out`` defaults to ``runs/<config name>-<hash of the config without its seed>-seeds``.
    ``jobs``: seeds run at a time, each in a process of its own with its share of the CPUs
    (experiments/jobs.py; a finished seed is skipped); ``threads``: each run's torch
    threads (default: its share). A seed that fails raises RunsFailedError once the
    others are done.
    ``allow_code_change``: as for ``imagelab.run``, for each seed's folder.
    """
    seeds = parse_seeds(seeds) if isinstance(seeds, str) else check_seeds(seeds)
    overrides = lab.override_list(overrides)
    if any(item.startswith("seed=") for item in overrides):
        raise ConfigError("--seeds", "conflicts with a seed=... override; give the seeds in --seeds only")
    configs = {seed: lab.resolve_config(config, [*overrides, f"seed={seed}"]) for seed in seeds}
    check_before_run(configs[seeds[0]])  # before OUT is made; each run checks its own config again
    if out is None:
        without_seed = {k: v for k, v in configs[seeds[0]].to_dict().items() if k != "seed"}
        digest = hashlib.sha256(repr(without_seed).encode()).hexdigest()[:8]
        out = Path("runs") / f"{lab.config_name(config)}-{digest}-seeds"
    root = Path(out).expanduser().resolve()
    _, processes = lab.join_processes(configs[seeds[0]])
    refuse_jobs_when_launched(check_jobs(jobs), processes)
    with processes.main_first():
        prepare_folder(root, seeds)
    if jobs > 1:
        _run_seeds_side_by_side(configs, root, jobs, threads, allow_code_change)
    else:
        for position, seed in enumerate(seeds, 1):
            if processes.is_main:
                print(f"== seed {seed} ({position}/{len(seeds)}): {seed_folder(root, seed)}", flush=True)
            lab.run_in_folder(configs[seed], seed_folder(root, seed), threads=threads,
                              allow_code_change=allow_code_change)
    processes.wait()  # every seed's metrics are written before the main process reads them
    table = []
    if processes.is_main:
        table = write_aggregate(root, seeds)
        print(describe_final(table))
        print(f"Aggregate: {root / AGGREGATE_FILE}  "
              f"(compare seed folders with `imagelab compare {root}/seed_* --out DIR`)")
    return SeedRuns(root, {seed: lab.load_run(seed_folder(root, seed)) for seed in seeds}, table)


def _run_seeds_side_by_side(configs: dict[int, RunConfig], root: Path, jobs: int, threads: int | None,
                            allow_code_change: bool) -> None:
    """The unfinished seeds ``jobs`` at a time; RunsFailedError naming each that failed, after all are done."""
    pending = []
    for seed, config in configs.items():
        if run_status(seed_folder(root, seed)) == "complete":
            print(f"== seed {seed}: complete, skipped", flush=True)
        else:
            pending.append(Job(seed_folder(root, seed).name, config, seed_folder(root, seed), allow_code_change))
    outcomes = run_side_by_side(pending, jobs, threads, root / JOB_LOGS_DIR) if pending else []
    failures = [outcome.describe_failure() for outcome in outcomes if outcome.failed]
    if failures:
        raise RunsFailedError("; ".join(failures))


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> [0, 1, 2]; distinct non-negative integers."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError("--seeds", f"must be comma-separated integers, e.g. 0,1,2,3,4; "
                                     f"got {text!r}") from None
    return check_seeds(seeds, text)


def check_seeds(seeds: Sequence[int], text: str | None = None) -> list[int]:
    """``seeds`` as a list, if they are distinct non-negative integers."""
    seeds = list(seeds)
    given = text if text is not None else seeds
    if any(isinstance(seed, bool) or not isinstance(seed, int) for seed in seeds):
        raise ConfigError("--seeds", f"must be integers, e.g. 0,1,2,3,4; got {given!r}")
    if not seeds or any(seed < 0 for seed in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError("--seeds", f"must list distinct non-negative integers, e.g. 0,1,2,3,4; "
                                     f"got {given!r}")
    return seeds


def prepare_folder(out: Path, seeds: Sequence[int]) -> None:
    """Make ``out`` a seeds folder: new, empty, or one made by an earlier ``--seeds`` run."""
    if (out / CONFIG_FILE).exists() or (out / MANIFEST_FILE).exists():
        raise RunFolderError(f"{out} holds a single run; choose another --out for a --seeds run")
    claim_folder_of_runs(out, SEEDS_MARKER, "--seeds run",
                         f"runs of one config with seeds {','.join(map(str, seeds))}, "
                         "made by `imagelab run --seeds`\n")


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
    writer.writerows([{k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
                      for row in table])
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
