"""A sweep's claims: published findings stated as paired tests on the sweep's own runs.

A sweep file may list ``claims``; each one names two sets of its runs by grid values,
a metric and a generation, and says which way the paper expects the difference::

    claims:
      - direction: "(a) replace loses the tail"
        paper: "Shumailov et al., Nature 2024"
        claim: "recursive training loses the rare breeds beyond what drift alone loses"
        A: {generator.name: resample}      # the baseline runs: every run with these grid values
        B: {generator.name: vae}           # the compared runs; they differ from A only in these keys
        metric: tail_mass
        generation: 5
        since: 1                           # optional: compare the change m[generation] - m[since]
        expect: lower                      # lower | higher | not_lower (with margin)

Runs of A and B are paired by seed: for each seed both hold, the difference B - A of
the metric at ``generation`` (or of its change since ``since``, which leaves out what
the two already differ by at that earlier generation, e.g. generation 1's fitting error).
The mean difference gets the percentile bootstrap over seeds (metrics/intervals.py).

The verdict follows the interval alone: ``agreed`` when it lies wholly on the expected
side of 0 (for ``not_lower``: wholly above ``-margin``), ``contradicted`` when it lies
wholly on the other side, and ``not shown`` otherwise (or with fewer than two seeds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from imagelab.experiments.tables import format_table, write_csv
from imagelab.metrics.intervals import paired_differences, seed_values_text
from imagelab.metrics.suite import chosen_metrics, declare
from imagelab.report.claims_plot import plot_claims
from imagelab.runs.record import load_run, number

EXPECTATIONS = ("lower", "higher", "not_lower")
KEYS = ("direction", "paper", "claim", "A", "B", "metric", "generation", "since", "expect", "margin")
REQUIRED = ("direction", "claim", "A", "B", "metric", "generation", "expect")
AGREED, CONTRADICTED, NOT_SHOWN = "agreed", "contradicted", "not shown"
CLAIMS_FILE = "claims.csv"
CLAIMS_FIGURE = "claims.png"
BREED_PLACEHOLDER = "<breed>"


@dataclass(frozen=True)
class Claim:
    direction: str  # a short label, e.g. "(a) replace loses the tail"
    paper: str  # where the claim is published
    claim: str  # what the paper says, in a sentence
    first: dict[str, str]  # A: grid values (as the sweep writes them) every baseline run has
    second: dict[str, str]  # B: likewise for the compared runs
    metric: str  # a metrics.csv column
    generation: int
    since: int | None  # compare the change since this generation, or the value itself when None
    expect: str  # one of EXPECTATIONS
    margin: float  # not_lower: how far below 0 the difference may reach


def parse_claims(tree: Any, where: str, as_text: Callable[[Any], str]) -> list[Claim]:
    """The ``claims`` list of a sweep file; ``where`` names the file in errors (raised as ValueError),
    ``as_text`` writes a value as the sweep writes grid values, so the two compare equal."""
    if tree is None:
        return []
    if not isinstance(tree, list):
        raise ValueError(f"{where}: 'claims' must be a list of mappings (see imagelab/experiments/claims.py)")
    claims = []
    for position, entry in enumerate(tree, 1):
        label = f"{where}, claim {position}"
        if not isinstance(entry, dict):
            raise ValueError(f"{label}: must be a mapping with {', '.join(REQUIRED)}")
        unknown = sorted(set(entry) - set(KEYS))
        if unknown:
            raise ValueError(f"{label}: unknown key '{unknown[0]}'; allowed: {', '.join(KEYS)}")
        missing = [key for key in REQUIRED if key not in entry]
        if missing:
            raise ValueError(f"{label}: '{missing[0]}' is missing; a claim needs {', '.join(REQUIRED)}")
        for side in ("A", "B"):
            if not isinstance(entry[side], dict) or not entry[side]:
                raise ValueError(f"{label}: '{side}' must map grid keys to values, e.g. {{loop.regime: replace}}")
        if entry["expect"] not in EXPECTATIONS:
            raise ValueError(f"{label}: 'expect' must be one of {', '.join(EXPECTATIONS)}, got {entry['expect']!r}")
        generation, since = entry["generation"], entry.get("since")
        if not isinstance(generation, int) or generation < 0:
            raise ValueError(f"{label}: 'generation' must be a generation number (0 or more), got {generation!r}")
        if since is not None and not (isinstance(since, int) and 0 <= since < generation):
            raise ValueError(f"{label}: 'since' must be an earlier generation than {generation}, got {since!r}")
        margin = entry.get("margin", 0.0)
        if not isinstance(margin, (int, float)) or margin < 0:
            raise ValueError(f"{label}: 'margin' must be a number of 0 or more, got {margin!r}")
        claims.append(Claim(
            direction=str(entry["direction"]), paper=str(entry.get("paper", "")), claim=str(entry["claim"]),
            first={key: as_text(value) for key, value in entry["A"].items()},
            second={key: as_text(value) for key, value in entry["B"].items()},
            metric=str(entry["metric"]), generation=generation, since=since, expect=entry["expect"],
            margin=float(margin)))
    return claims


def check_claims(claims: Sequence[Claim], runs: Sequence[tuple[str, dict[str, str]]], where: str) -> None:
    """Each claim's A and B must each pick at most one run per seed, and at least one run with a seed both
    have; ``runs``: (name, grid values as text). Raises ValueError naming the claim."""
    columns = _built_in_columns()
    for position, claim in enumerate(claims, 1):
        label = f"{where}, claim {position} ({claim.direction})"
        if not any(claim.metric == name or (name.endswith(BREED_PLACEHOLDER) and
                                            claim.metric.startswith(name[: -len(BREED_PLACEHOLDER)]))
                   for name in columns):
            raise ValueError(f"{label}: 'metric' {claim.metric!r} is not a built-in metrics.csv column; "
                             f"choose one of {', '.join(columns)}")
        seeds = []
        for side, wanted in (("A", claim.first), ("B", claim.second)):
            picked = _pick(runs, wanted)
            by_seed: dict[str, str] = {}
            for name, values in picked:
                seed = values.get("seed", "")
                if seed in by_seed:
                    raise ValueError(f"{label}: '{side}' picks both '{by_seed[seed]}' and '{name}' for seed "
                                     f"{seed or '(none)'}; name more grid values so it picks one run per seed")
                by_seed[seed] = name
            seeds.append(set(by_seed))
        if not seeds[0] & seeds[1]:
            raise ValueError(f"{label}: 'A' and 'B' share no seed among the sweep's runs; each needs runs of "
                             "the same seeds (check the grid values they name)")


def measure_claims(claims: Sequence[Claim], runs: Sequence[tuple[str, dict[str, str]]], out: Path) -> list[dict]:
    """One row per claim from the runs' metrics.csv under ``out``: the per-seed differences (``per_seed`` as
    text; ``differences``, a list, for plotting), mean, interval and verdict. Runs not (yet) at the claim's
    generation are left out of its pairs."""
    table = []
    for claim in claims:
        values = [_values_by_seed(claim, _pick(runs, side), out) for side in (claim.first, claim.second)]
        paired = paired_differences(values[0], values[1])
        seeds = paired["seeds"]
        differences = paired["differences"]
        table.append({
            "direction": claim.direction, "paper": claim.paper, "claim": claim.claim,
            "A": _describe(claim.first), "B": _describe(claim.second), "metric": claim.metric,
            "generation": claim.generation, "since": "" if claim.since is None else claim.since,
            "expect": claim.expect + (f" (margin {claim.margin:g})" if claim.expect == "not_lower" else ""),
            "seeds": len(seeds), "A_mean": _mean([values[0][s] for s in seeds]),
            "B_mean": _mean([values[1][s] for s in seeds]),
            "difference_mean": paired["mean"], "difference_ci95_low": paired["low"],
            "difference_ci95_high": paired["high"],
            "seeds_in_direction": sum(_in_direction(claim, d) for d in differences),
            "per_seed": seed_values_text(differences), "paired_seeds": ";".join(map(str, seeds)),
            "verdict": verdict(claim, paired["low"], paired["high"], len(seeds)),
            "threshold": -claim.margin if claim.expect == "not_lower" else 0.0, "differences": differences})
    return table


def write_claims(claims: Sequence[Claim], runs: Sequence[tuple[str, dict[str, str]]], out: Path) -> list[dict]:
    """``out``/claims.csv and claims.png from the runs under ``out``, and the claims printed as a table."""
    table = measure_claims(claims, runs, out)
    write_csv(out / CLAIMS_FILE, [{k: v for k, v in row.items() if k != "differences"} for row in table])
    plot_claims(table, out / CLAIMS_FIGURE)
    print(format_table([{key: row[key] for key in ("direction", "metric", "generation", "seeds", "difference_mean",
                                                   "difference_ci95_low", "difference_ci95_high", "verdict")}
                        for row in table]))
    print(f"Claims, B - A paired over seeds: {out / CLAIMS_FILE} (figure: {out / CLAIMS_FIGURE})")
    return table


def verdict(claim: Claim, low: float, high: float, seeds: int) -> str:
    """What the interval [low, high] of B - A says about the claim (module docstring)."""
    if seeds < 2 or not (math.isfinite(low) and math.isfinite(high)):
        return NOT_SHOWN
    if claim.expect == "lower":
        return AGREED if high < 0 else CONTRADICTED if low > 0 else NOT_SHOWN
    if claim.expect == "higher":
        return AGREED if low > 0 else CONTRADICTED if high < 0 else NOT_SHOWN
    return AGREED if low >= -claim.margin else CONTRADICTED if high < -claim.margin else NOT_SHOWN


def _in_direction(claim: Claim, difference: float) -> bool:
    if claim.expect == "lower":
        return difference < 0
    if claim.expect == "higher":
        return difference > 0
    return difference >= -claim.margin


def _built_in_columns() -> list[str]:
    """The built-in metrics' column names, per-breed ones ending in BREED_PLACEHOLDER."""
    declared = declare(chosen_metrics(), breeds=(BREED_PLACEHOLDER,))
    return [column.name for metric in declared for column in metric.columns]


def _pick(runs: Sequence[tuple[str, dict[str, str]]], wanted: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    return [(name, values) for name, values in runs
            if all(values.get(key) == value for key, value in wanted.items())]


def _values_by_seed(claim: Claim, picked: list[tuple[str, dict[str, str]]], out: Path) -> dict[str, float]:
    """seed -> the claim's quantity in each picked run that reached the claim's generation."""
    found = {}
    for name, values in picked:
        folder = out / name
        if not (folder / "metrics.csv").is_file():
            continue
        rows = {int(row["generation"]): row for row in load_run(folder).rows}
        if claim.generation not in rows:
            continue
        value = number(rows[claim.generation], claim.metric)
        if claim.since is not None:
            value -= number(rows.get(claim.since), claim.metric)
        found[values.get("seed", "")] = value
    return found


def _describe(values: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in values.items())


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan
