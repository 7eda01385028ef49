"""`imagelab sweep SWEEP.yaml`: a grid of runs, one run folder each, and a table of their final metrics.

A sweep file::

    config: toy-vae              # optional: a preset name or a YAML path (relative to the sweep file)
    overrides:                   # optional: key=value overrides for every run
      loop.generations: 5
    grid:                        # every combination of these values is one run
      loop.regime: [replace, accumulate]
      seed: [0, 1, 2]

``vary: data`` (or ``all``) makes each run's ``seed`` vary the real data draw too
(``data.seed``; and the judge's training seed, ``judge.seed``), as ``imagelab run --seeds
--vary`` does; the default, ``generator``, varies only the generator's randomness.
``grid`` may also be a list of such mappings: the runs of each, one after the other
(for keys that only make sense together, e.g. ``loop.real_fraction`` with ``mix``).
Each run goes to ``OUT/<name>``, its name made of its grid values
(``regime-accumulate_seed-1``). Running the sweep again skips finished runs and
resumes a partial one; ``--jobs N`` runs N of them at a time on this machine, the
CPUs split between them (experiments/jobs.py); ``--list`` prints each run as an
``imagelab run`` command, to hand one run to each job of a cluster's job array.

When ``seed`` is a grid key, ``summary_over_seeds.csv`` has the final metrics' means and
bounded bootstrap intervals over the seeds of each other combination, and
``paired_differences.csv`` compares runs that differ in one grid key and share seeds: per
metric, B - A for each shared seed (A: that key's first value in the grid), their mean and
its bootstrap interval (metrics/intervals.py). A sweep file's ``claims`` (published findings,
each a paired difference between two sets of its runs with the direction the paper expects;
experiments/claims.py) are tested into ``claims.csv`` and drawn in ``claims.png``.
"""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from imagelab import lab
from imagelab.config import load_config, preset_dir
from imagelab.errors import StageFailedError, UserError
from imagelab.experiments.claims import Claim, check_claims, parse_claims, write_claims
from imagelab.experiments.jobs import Job, check_jobs, refuse_jobs_when_launched, run_side_by_side, run_status
from imagelab.experiments.seeds import check_vary, vary_overrides
from imagelab.experiments.tables import format_table, write_csv
from imagelab.metrics.intervals import FEW_SEEDS, bootstrap_interval, paired_differences, seed_values_text
from imagelab.metrics.suite import built_in_headline
from imagelab.runs.folder import claim_folder_of_runs
from imagelab.runs.layout import JOB_LOGS_DIR
from imagelab.runs.record import load_run

MARKER = ".imagelab-sweep"
SUMMARY_FILE = "summary.csv"
SEEDS_SUMMARY_FILE = "summary_over_seeds.csv"
PAIRED_FILE = "paired_differences.csv"
SUMMARY_METRICS = built_in_headline()  # the built-in metrics' headline columns (metrics/metric.py, Column)
KEYS = ("config", "overrides", "grid", "vary", "claims")


class SweepError(UserError):
    """A sweep file that cannot be used; the message names the file and what to fix."""


@dataclass(frozen=True)
class SweepRun:
    name: str  # folder name under the sweep's OUT
    values: dict[str, Any]  # this run's grid values, in the sweep file's key order
    overrides: list[str]  # key=value: the sweep's overrides, then the grid values


@dataclass(frozen=True)
class Sweep:
    name: str  # the sweep file's stem
    config: str | None  # preset name or absolute YAML path
    runs: list[SweepRun]
    claims: list[Claim] = field(default_factory=list)  # published findings tested on the runs (claims.py)

    def run_values(self) -> list[tuple[str, dict[str, str]]]:
        """Each run's name and grid values as the sweep writes them (what a claim's A and B name)."""
        return [(run.name, {key: _yaml_value(value) for key, value in run.values.items()}) for run in self.runs]


def sweep_dir() -> Path:
    """Bundled sweep files: configs/sweeps of a checkout, installed as imagelab/presets/sweeps."""
    return preset_dir() / "sweeps"


def load_sweep(source: str) -> Sweep:
    """Parse and check a sweep file; every run's config is resolved, so a bad one fails before any run."""
    path = _find(source)
    try:
        tree = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise SweepError(f"sweep {path}: not readable YAML: {' '.join(str(error).split())}") from None
    if not isinstance(tree, dict):
        raise SweepError(f"sweep {path}: must be a mapping with 'grid' "
                         "(and optionally 'config', 'overrides')")
    unknown = sorted(set(tree) - set(KEYS))
    if unknown:
        raise SweepError(f"sweep {path}: unknown key '{unknown[0]}'; allowed: {', '.join(KEYS)}")
    config = tree.get("config")
    if config is not None and not isinstance(config, str):
        raise SweepError(f"sweep {path}: 'config' must be a preset name or a YAML path, got {config!r}")
    if isinstance(config, str) and config.endswith((".yaml", ".yml")):
        config = str((path.parent / config).resolve())
    fixed = tree.get("overrides") or {}
    if not isinstance(fixed, dict):
        raise SweepError(f"sweep {path}: 'overrides' must map dotted keys to values, "
                         "e.g. loop.generations: 5")
    vary = tree.get("vary", "generator")
    try:
        check_vary(vary)
    except UserError:
        raise SweepError(f"sweep {path}: 'vary' must be generator, data or all, got {vary!r}") from None
    grids = tree.get("grid")
    grids = [grids] if isinstance(grids, dict) else grids
    if not isinstance(grids, list) or not grids or not all(isinstance(g, dict) and g for g in grids):
        raise SweepError(f"sweep {path}: 'grid' must map dotted keys to lists of values "
                         "(or be a list of such mappings)")
    runs = []
    for grid in grids:
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                raise SweepError(f"sweep {path}: grid key '{key}' must have a non-empty list of values, "
                                 f"got {values!r}")
            if key in fixed:
                raise SweepError(f"sweep {path}: '{key}' is both in 'overrides' and in 'grid'; keep one")
        for combination in itertools.product(*grid.values()):
            values = dict(zip(grid, combination))
            overrides = [f"{k}={_yaml_value(v)}" for k, v in {**fixed, **values}.items()]
            if vary != "generator":
                if "seed" not in values:
                    raise SweepError(f"sweep {path}: 'vary: {vary}' varies the data with each run's seed; "
                                     "make seed a grid key")
                taken = [key for key in ("data.seed", "judge.seed") if key in {**fixed, **values}]
                if taken:
                    raise SweepError(f"sweep {path}: 'vary: {vary}' sets {taken[0]} from the seed; "
                                     f"remove {taken[0]} from the sweep")
                overrides += vary_overrides(vary, values["seed"])
            runs.append(SweepRun(_run_name(values), values, overrides))
    _check_names(path, runs)
    for run in runs:
        try:
            load_config(config, run.overrides)
        except UserError as error:
            raise SweepError(f"sweep {path}, run '{run.name}': {error}") from None
    sweep = Sweep(path.stem, config, runs)
    try:
        sweep.claims.extend(parse_claims(tree.get("claims"), f"sweep {path}", _yaml_value))
        check_claims(sweep.claims, sweep.run_values(), f"sweep {path}")
    except ValueError as error:
        raise SweepError(str(error)) from None
    return sweep


def run_sweep(sweep: Sweep, out: Path, jobs: int = 1, threads: int | None = None,
              allow_code_change: bool = False) -> list[str]:
    """Run every unfinished run in ``out``/<name>, then write and print the summary; returns failed runs.

    ``jobs`` runs at a time, each in a process of its own with its share of the CPUs
    (experiments/jobs.py); ``threads``: each run's torch threads (default: its share);
    ``allow_code_change``: as for ``imagelab.run``, for each run's folder.
    In a multi-process launch every process goes through the runs together (each run
    is split between them) and the main process alone prints and writes the summary.
    """
    _, processes = lab.join_processes(load_config(sweep.config, sweep.runs[0].overrides))
    refuse_jobs_when_launched(check_jobs(jobs), processes)
    say = print if processes.is_main else (lambda *args, **kwargs: None)
    with processes.main_first():
        _prepare(out, sweep)
    failed, side_by_side = [], []
    for position, run in enumerate(sweep.runs, 1):
        folder = out / run.name
        if run_status(folder) == "complete":
            say(f"== [{position}/{len(sweep.runs)}] {run.name}: complete, skipped", flush=True)
            continue
        if jobs > 1:
            side_by_side.append(Job(run.name, load_config(sweep.config, run.overrides), folder, allow_code_change))
            continue
        say(f"== [{position}/{len(sweep.runs)}] {run.name}", flush=True)
        try:
            lab.run_in_folder(load_config(sweep.config, run.overrides), folder, threads=threads,
                              allow_code_change=allow_code_change)
        except StageFailedError as error:
            say(f"imagelab: run {run.name} stopped: {error}; the sweep goes on", flush=True)
            failed.append(run.name)
    if side_by_side:
        outcomes = run_side_by_side(side_by_side, jobs, threads, out / JOB_LOGS_DIR)
        failed += [outcome.name for outcome in outcomes if outcome.failed]
    processes.wait()  # every run's metrics are written before the main process reads them
    if not processes.is_main:
        return failed
    rows = write_summary(sweep, out)
    print(format_table(rows))
    print(f"Summary: {out / SUMMARY_FILE}")
    not_grid = ("run", "status", "generation", *SUMMARY_METRICS)
    groups = over_seeds(rows, [key for key in rows[0] if key not in not_grid])
    if groups:
        write_csv(out / SEEDS_SUMMARY_FILE, groups)
        print(format_table(groups))
        print(f"Means over seeds (95% bootstrap intervals over seeds): {out / SEEDS_SUMMARY_FILE}")
    paired = paired_over_seeds(rows, [key for key in rows[0] if key not in not_grid])
    if paired:
        write_csv(out / PAIRED_FILE, paired)
        print(format_table(paired))
        print(f"Paired differences B - A over shared seeds: {out / PAIRED_FILE}")
    if sweep.claims:
        write_claims(sweep.claims, sweep.run_values(), out)
    return failed


def list_commands(sweep: Sweep, out: Path) -> list[str]:
    """One shell command per run; running them all (anywhere, in any order) is the sweep."""
    head = ["imagelab", "run"] + ([sweep.config] if sweep.config else [])
    # --out last, after the overrides: the run's folder ends each line, where a job script finds it.
    return [shlex.join([*head, *run.overrides, "--out", str(out / run.name)]) for run in sweep.runs]


def write_summary(sweep: Sweep, out: Path) -> list[dict]:
    """``out``/summary.csv: per run its grid values, status and final metrics."""

    grid_keys = list(dict.fromkeys(key for run in sweep.runs for key in run.values))
    rows = []
    for run in sweep.runs:
        row: dict[str, Any] = {"run": run.name}
        row.update({key: _yaml_value(run.values[key]) if key in run.values else "" for key in grid_keys})
        row["status"] = run_status(out / run.name)
        last = load_run(out / run.name).rows[-1:] if (out / run.name).is_dir() else []
        row["generation"] = last[0]["generation"] if last else ""
        row.update({metric: last[0].get(metric, "") if last else "" for metric in SUMMARY_METRICS})
        rows.append(row)
    write_csv(out / SUMMARY_FILE, rows)
    return rows


def over_seeds(rows: list[dict], grid_keys: list[str]) -> list[dict]:
    """Finished runs grouped by every grid value but ``seed``: the final metrics' means and 95% intervals.

    Empty unless ``seed`` is a grid key and some group has more than one finished run.
    """

    if "seed" not in grid_keys:
        return []
    keys = [key for key in grid_keys if key != "seed"]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["status"] == "complete":
            groups.setdefault(tuple(row[key] for key in keys), []).append(row)
    if not any(len(members) > 1 for members in groups.values()):
        return []
    table = []
    for values, members in groups.items():
        line: dict[str, Any] = {**dict(zip(keys, values)), "seeds": len(members)}
        for metric in SUMMARY_METRICS:
            numbers = [float(m[metric]) for m in members if isinstance(m[metric], (int, float))]
            if len(numbers) == len(members):
                # Percentile bootstrap: its bounds lie within the seeds' values, so within the metric's range.
                mean, low, high = bootstrap_interval(numbers)
                line.update({f"{metric}_mean": mean, f"{metric}_ci95_low": low, f"{metric}_ci95_high": high})
                if len(numbers) < FEW_SEEDS:
                    line[f"{metric}_seeds"] = seed_values_text(numbers)
        table.append(line)
    return table


def paired_over_seeds(rows: list[dict], grid_keys: list[str]) -> list[dict]:
    """For each grid key but ``seed``: finished runs that differ from the key's first value in that key alone
    and share seeds with it, per metric B - A over the shared seeds (each seed's, the mean and its interval)."""
    if "seed" not in grid_keys:
        return []
    finished = [row for row in rows if row["status"] == "complete"]
    table = []
    for key in (k for k in grid_keys if k != "seed"):
        values = list(dict.fromkeys(row[key] for row in finished if row[key] != ""))
        others = [k for k in grid_keys if k not in (key, "seed")]
        if len(values) < 2:
            continue
        baseline = values[0]
        for value in values[1:]:
            settings = dict.fromkeys(tuple(row[k] for k in others) for row in finished if row[key] == value)
            for setting in settings:
                same = [row for row in finished if tuple(row[k] for k in others) == setting]
                first = {row["seed"]: row for row in same if row[key] == baseline}
                second = {row["seed"]: row for row in same if row[key] == value}
                if not set(first) & set(second):
                    continue
                for metric in SUMMARY_METRICS:
                    paired = paired_differences(_numbers(first, metric), _numbers(second, metric))
                    if not paired["seeds"]:
                        continue
                    table.append({"setting": key, "A": baseline, "B": value, **dict(zip(others, setting)),
                                  "metric": metric, "seeds": len(paired["seeds"]),
                                  "difference_mean": paired["mean"], "difference_ci95_low": paired["low"],
                                  "difference_ci95_high": paired["high"],
                                  "per_seed": seed_values_text(paired["differences"]),
                                  "paired_seeds": ";".join(map(str, paired["seeds"]))})
    return table


def _numbers(rows_by_seed: dict[Any, dict], metric: str) -> dict[Any, float]:
    return {seed: float(row[metric]) for seed, row in rows_by_seed.items() if isinstance(row[metric], (int, float))}


# --- pieces ------------------------------------------------------------------------------------


def _find(source: str) -> Path:
    path = Path(source)
    if path.is_file():
        return path.resolve()
    bundled = sweep_dir() / f"{source}.yaml"
    if path.suffix not in (".yaml", ".yml") and bundled.is_file():
        return bundled
    available = sorted(p.stem for p in sweep_dir().glob("*.yaml"))
    raise SweepError(f"no sweep file '{source}'; give a YAML path or a bundled sweep: "
                     f"{', '.join(available) or 'none'}")


def _prepare(out: Path, sweep: Sweep) -> None:
    """``out`` must be new, empty, or an earlier sweep's folder."""
    claim_folder_of_runs(out, MARKER, "sweep",
                         f"runs of the sweep '{sweep.name}', made by `imagelab sweep`\n",
                         error=SweepError)


def _run_name(values: dict[str, Any]) -> str:
    """``regime-mix_real_fraction-0.5_seed-0``: each grid key's last part and its value."""
    leaves = [key.split(".")[-1] for key in values]
    parts = []
    for key, leaf in zip(values, leaves):
        label = leaf if leaves.count(leaf) == 1 else key.replace(".", "-")
        parts.append(f"{label}-{_yaml_value(values[key])}")
    return re.sub(r"[^A-Za-z0-9._,+-]+", "-", "_".join(parts)).strip("-") or "run"


def _check_names(path: Path, runs: list[SweepRun]) -> None:
    seen: dict[str, SweepRun] = {}
    for run in runs:
        if run.name in seen:
            raise SweepError(f"sweep {path}: two runs would share the folder '{run.name}' "
                             f"({seen[run.name].values} and {run.values}); make the grid's values distinct")
        seen[run.name] = run


def _yaml_value(value: Any) -> str:
    """A value as a key=value override writes it (YAML flow style, no document end marker)."""
    if isinstance(value, str):
        return value
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text[: -len("...")].strip() if text.endswith("...") else text
