"""Paired comparisons for ``imagelab compare``: runs that differ in one setting and share seeds, seed by seed.

How runs are paired: every run given is a set of seeds (a ``--seeds`` folder: its
``seed_<s>`` runs; a run folder: its config's ``seed``). Runs whose configs are equal
but for the seed (and ``data.seed`` / ``judge.seed``, which ``--vary`` sets from it)
form one group. The first group is A; another group B is paired with it when the two
configs differ in exactly one key, or when both are ``--seeds`` folders (their
differences are listed). For each seed both hold, B - A of each headline column at
each generation both reached; the mean difference gets the percentile bootstrap over
seeds (metrics/intervals.py), inside the range a difference of that column can have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from imagelab.metrics.intervals import column_range, difference_range, paired_differences
from imagelab.metrics.metric import Column
from imagelab.runs.aggregate import is_aggregate, seeds_of
from imagelab.runs.layout import seed_folder
from imagelab.runs.record import RunRecord, load_run, number

SEED_KEYS = ("seed", "data.seed", "judge.seed")  # keys a seed sets; they do not make two settings differ


@dataclass
class SeedGroup:
    """Runs of one config (but the seed keys): their labels, config and each seed's rows."""

    labels: list[str]
    config: dict[str, Any]  # flattened, without SEED_KEYS
    rows: dict[int, list[dict]] = field(default_factory=dict)
    seeds_folders: bool = False  # made of --seeds folders


@dataclass
class Pairing:
    first: SeedGroup  # A
    second: SeedGroup  # B
    differences: list[str]  # "key: A value -> B value"
    seeds: list[int]  # shared


def seed_groups(records: Sequence[RunRecord], labels: Sequence[str]) -> list[SeedGroup]:
    """The runs as groups of seeds of one config, in the order first given."""
    groups: list[SeedGroup] = []
    for label, record in zip(labels, records):
        if is_aggregate(record.root):
            runs = {seed: load_run(seed_folder(record.root, seed)) for seed in seeds_of(record.root)}
        else:
            seed = record.config.get("seed")
            runs = {seed: record} if isinstance(seed, int) else {}
        if not runs:
            continue
        config = {k: v for k, v in flatten(next(iter(runs.values())).config).items() if k not in SEED_KEYS}
        group = next((g for g in groups if g.config == config and not set(g.rows) & set(runs)), None)
        if group is None:
            group = SeedGroup([], config, seeds_folders=is_aggregate(record.root))
            groups.append(group)
        group.labels.append(label)
        group.rows.update({seed: run.rows for seed, run in runs.items()})
    return groups


def pairings(groups: Sequence[SeedGroup]) -> list[Pairing]:
    """Each later group paired with the first where the rule of the module docstring allows."""
    if len(groups) < 2:
        return []
    first = groups[0]
    found = []
    for second in groups[1:]:
        keys = [k for k in dict.fromkeys([*first.config, *second.config])
                if repr(first.config.get(k)) != repr(second.config.get(k))]
        shared = sorted(set(first.rows) & set(second.rows))
        if shared and (len(keys) == 1 or (first.seeds_folders and second.seeds_folders)):
            found.append(Pairing(first, second, [f"{k}: {first.config.get(k, '–')} → {second.config.get(k, '–')}"
                                                 for k in keys], shared))
    return found


def paired_rows(pairing: Pairing, columns: Sequence[Column], num_breeds: int) -> list[dict[str, Any]]:
    """Per generation every shared seed reached in both, per column: B - A per seed, the mean and interval."""
    by_generation = {
        side: {seed: {int(row["generation"]): row for row in group.rows[seed]} for seed in pairing.seeds}
        for side, group in (("A", pairing.first), ("B", pairing.second))}
    generations = sorted(set.intersection(*(set(rows) for side in by_generation.values() for rows in side.values())))
    table = []
    for generation in generations:
        for column in columns:
            values = {side: {seed: number(rows[seed][generation], column.name) for seed in pairing.seeds}
                      for side, rows in by_generation.items()}
            bounds = column_range(column, column.name, num_breeds)
            paired = paired_differences(values["A"], values["B"], bounds)
            if not paired["seeds"]:
                continue
            seeds = paired["seeds"]
            table.append({"generation": generation, "column": column, "seeds": seeds,
                          "A": [values["A"][s] for s in seeds], "B": [values["B"][s] for s in seeds],
                          "differences": paired["differences"], "mean": paired["mean"], "low": paired["low"],
                          "high": paired["high"], "bounds": difference_range(bounds)})
    return table


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as dotted keys."""
    if isinstance(tree, dict):
        flat: dict[str, Any] = {}
        for key, value in tree.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): tree}
