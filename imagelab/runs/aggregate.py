"""Reading a seeds folder back: its aggregate.csv as a run whose rows are the means over seeds."""

from __future__ import annotations

import csv
from pathlib import Path

import yaml

from imagelab.errors import RunFolderError
from imagelab.runs.layout import AGGREGATE_FILE, CONFIG_FILE, seed_folder
from imagelab.runs.record import RunRecord, load_run


def is_aggregate(root: Path) -> bool:
    return (root / AGGREGATE_FILE).is_file() and not (root / CONFIG_FILE).exists()


def seeds_of(root: Path) -> list[int]:
    """The seeds of a seeds folder's ``seed_<s>`` run folders, in increasing order."""
    return sorted(int(p.name[len("seed_"):]) for p in Path(root).glob("seed_*") if p.name[len("seed_"):].isdigit())


def load_aggregate(root: Path) -> RunRecord:
    """An aggregate folder as a RunRecord whose rows are the means over seeds (for comparisons)."""
    root = Path(root).expanduser().resolve()
    seeds = seeds_of(root)
    if not seeds:
        raise RunFolderError(f"{root} has an {AGGREGATE_FILE} but no seed_* run folders")
    first = load_run(seed_folder(root, seeds[0]))
    with open(root / AGGREGATE_FILE, newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    rows = []
    for line in table:
        row: dict = {"generation": int(line["generation"])}
        row.update({key[: -len("_mean")]: float(value)
                    for key, value in line.items() if key.endswith("_mean") and value})
        rows.append(row)
    config = yaml.safe_load(yaml.safe_dump(first.config))  # a copy
    config["seed"] = ",".join(map(str, seeds))
    manifest = {**first.manifest, "status": f"mean of {len(seeds)} seeds"}
    return RunRecord(root, config, manifest, first.judge, rows, first.breeds, [], first.problems)
