"""Many seeds of one lab: a run per seed in ``OUT/seed_<s>/`` and their aggregate.

What a seed varies is ``vary``: ``generator`` (the default, as before) only the run seed,
so every seed shares one real data draw and one judge; ``data`` also the real data draw
(``data.seed`` = the seed: pool, reference and judge splits); ``all`` the judge's training
seed too (``judge.seed`` = the seed). Each seed's config.yaml holds the values it ran with.

``OUT/aggregate.csv`` (means, bounded bootstrap intervals, each seed's value with few
seeds, the extinction summary, survival), ``OUT/survival.csv`` and ``OUT/aggregate.json``
are described in ``experiments/seed_aggregate.py``; ``OUT/report/index.html`` shows them
(report/seeds_report.py). An aggregate folder can be handed to ``imagelab compare`` like a
run: its curves are the means, and two such folders are compared seed by seed.

    imagelab.run_seeds("toy-vae", seeds=[0, 1, 2], out="runs/toy-seeds")   # = imagelab run --seeds 0,1,2
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from imagelab import lab
from imagelab.config import RunConfig
from imagelab.errors import ConfigError, RunFolderError, RunsFailedError
from imagelab.experiments.jobs import Job, check_jobs, refuse_jobs_when_launched, run_side_by_side, run_status
from imagelab.experiments.seed_aggregate import VARIED, aggregate, describe_final, write_aggregate
from imagelab.lab import ConfigSource
from imagelab.preflight import check_before_run
from imagelab.report.seeds_report import build_seeds_report
from imagelab.run_reader import Run, load_run
from imagelab.runs.folder import claim_folder_of_runs
from imagelab.runs.layout import AGGREGATE_FILE, CONFIG_FILE, JOB_LOGS_DIR, MANIFEST_FILE, SEEDS_MARKER, seed_folder

VARY = tuple(VARIED)  # what --vary accepts; "generator" first: the default

__all__ = ["VARY", "SeedRuns", "aggregate", "check_seeds", "check_vary", "describe_final", "parse_seeds",
           "run_seeds", "vary_overrides", "write_aggregate"]


@dataclass
class SeedRuns:
    """What ``run_seeds`` made: the folder, each seed's run, and the aggregate's rows."""

    root: Path  # holds seed_<s>/ and aggregate.csv
    runs: dict[int, Run]  # by seed, in the order given
    aggregate: list[dict]  # aggregate.csv's rows (empty in the other processes of a multi-process launch)


def run_seeds(config: ConfigSource = None, *, seeds: Sequence[int] | str,
              out: str | os.PathLike | None = None, overrides: Sequence[str] = (), jobs: int = 1,
              threads: int | None = None, allow_code_change: bool = False, vary: str = "generator") -> SeedRuns:
    """One run per seed in ``out``/seed_<s>/ (each resumable), then ``out``/aggregate.csv and its report.

    ``seeds``: distinct non-negative integers, or their comma-separated text (``"0,1,2"``).
    ``vary``: what a seed varies: ``generator`` (only the run seed), ``data`` (and ``data.seed``),
    ``all`` (and ``judge.seed``); see the module docstring.
    ``out`` defaults to ``runs/<config name>-<hash of the config without its seed>-seeds``.
    ``jobs``: seeds run at a time, each in a process of its own with its share of the CPUs
    (experiments/jobs.py; a finished seed is skipped); ``threads``: each run's torch
    threads (default: its share). A seed that fails raises RunsFailedError once the
    others are done.
    ``allow_code_change``: as for ``imagelab.run``, for each seed's folder.
    """
    seeds = parse_seeds(seeds) if isinstance(seeds, str) else check_seeds(seeds)
    overrides = lab.override_list(overrides)
    vary = check_vary(vary)
    if any(item.startswith("seed=") for item in overrides):
        raise ConfigError("--seeds", "conflicts with a seed=... override; give the seeds in --seeds only")
    for key in VARIED[vary]:
        if any(item.startswith(f"{key}=") for item in overrides):
            raise ConfigError("--vary", f"{vary} sets {key} to each seed, which conflicts with a {key}=... "
                                        f"override; drop the override or use --vary generator")
    configs = {seed: lab.resolve_config(config, [*overrides, f"seed={seed}", *vary_overrides(vary, seed)])
               for seed in seeds}
    check_before_run(configs[seeds[0]])  # before OUT is made; each run checks its own config again
    if out is None:
        without_seed = configs[seeds[0]].to_dict()
        del without_seed["seed"]
        for key in VARIED[vary]:  # keys that follow the seed belong to no one seed
            section, name = key.split(".")
            without_seed[section] = {**without_seed[section], name: None}
        varied = "" if vary == "generator" else f"-vary-{vary}"
        digest = hashlib.sha256(repr(without_seed).encode()).hexdigest()[:8]
        out = Path("runs") / f"{lab.config_name(config)}-{digest}{varied}-seeds"
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
        table = write_aggregate(root, seeds, vary)
        print(describe_final(table))
        print(f"Aggregate: {root / AGGREGATE_FILE}  "
              f"(compare seed folders with `imagelab compare {root}/seed_* --out DIR`)")
        print(f"Report: {build_seeds_report(root)}")
    return SeedRuns(root, {seed: load_run(seed_folder(root, seed)) for seed in seeds}, table)


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


def check_vary(vary: str) -> str:
    """``vary`` if it is one of VARY."""
    if vary not in VARIED:
        raise ConfigError("--vary", f"must be one of {', '.join(VARY)}, got {vary!r}")
    return vary


def vary_overrides(vary: str, seed: int) -> list[str]:
    """The overrides that make a seed's run vary what ``vary`` says: ``data.seed=<seed>`` and so on."""
    return [f"{key}={seed}" for key in VARIED[check_vary(vary)]]


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
