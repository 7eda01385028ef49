"""Extinction over seeds: per breed, the share of seeds in which it is still detectable, beside the null's.

A breed *survives* generation g of a run while it has not yet become undetectable for
good: its extinction generation (``extinction.py``, from the ``detectable_<breed>``
verdicts, or the share floor for older rows) is later than g, or never came. Over
seeds this is an empirical survival curve, non-increasing in g.

The null beside it is exact: a generator that only resamples its N images keeps a
breed with k of the pool's P images at generation g with the Wright-Fisher probability
of ``wright_fisher.survival_from_pool``. That is survival of *at least one image*;
detection needs more images than the judge's errors could give, so the null's
detectable survival lies at or below this curve. The exact chain is an (N + 1)²
matrix: populations above ``MAX_EXACT_POPULATION`` get no null curve.
"""

from __future__ import annotations

import math
from typing import Sequence

from imagelab.metrics.extinction import extinctions
from imagelab.metrics.wright_fisher import survival_from_pool

MAX_EXACT_POPULATION = 5_000  # a 200 MB transition matrix


def surviving(rows: list[dict], breeds: Sequence[str], floors: dict[str, float],
              generations: Sequence[int]) -> dict[str, list[bool]]:
    """Per breed, whether it survives each of ``generations`` in one run's ``rows`` (those generations only)."""
    kept = [row for row in rows if int(row["generation"]) in set(generations)]
    lost = extinctions(kept, {breed: floors.get(breed, 0.0) for breed in breeds})
    return {breed: [lost[breed] is None or generation < lost[breed] for generation in generations]
            for breed in breeds}


def survival_table(rows_by_seed: dict[int, list[dict]], breeds: Sequence[str],
                   floors: dict[str, float]) -> list[dict]:
    """One row per generation every seed reached: ``generation``, ``seeds`` and ``surviving_<breed>``, the share
    of seeds in which the breed survives that generation."""
    reached = [{int(row["generation"]) for row in rows} for rows in rows_by_seed.values()]
    generations = sorted(set.intersection(*reached)) if reached else []
    per_seed = [surviving(rows, breeds, floors, generations) for rows in rows_by_seed.values()]
    table = []
    for position, generation in enumerate(generations):
        row: dict = {"generation": generation, "seeds": len(per_seed)}
        for breed in breeds:
            row[f"surviving_{breed}"] = sum(seed[breed][position] for seed in per_seed) / len(per_seed)
        table.append(row)
    return table


def null_survival(pool_counts: dict[str, int], population: int | None,
                  generations: int) -> dict[str, list[float]] | None:
    """Per breed, the exact Wright-Fisher survival at t = 0..generations of the resampling null, or None where
    the chain is not drawn (no neutral population, or one above MAX_EXACT_POPULATION, or no pool counts)."""
    pool = sum(pool_counts.values())
    if not population or population > MAX_EXACT_POPULATION or pool <= 0:
        return None
    return {breed: survival_from_pool(count, pool, population, generations).tolist()
            for breed, count in pool_counts.items()}


def pool_counts(manifest: dict, breeds: Sequence[str], first_row: dict | None) -> dict[str, int]:
    """The real pool's images per breed: as the manifest recorded them, else generation 0's shares x samples."""
    recorded = manifest.get("data", {}).get("split_counts", {}).get("pool") if isinstance(manifest, dict) else None
    if isinstance(recorded, dict) and all(isinstance(recorded.get(b), int) for b in breeds):
        return {breed: int(recorded[breed]) for breed in breeds}
    if not first_row or not isinstance(first_row.get("samples"), (int, float)):
        return {}
    samples = first_row["samples"]
    shares = {breed: first_row.get(f"share_{breed}") for breed in breeds}
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in shares.values()):
        return {}
    return {breed: int(round(share * samples)) for breed, share in shares.items()}
