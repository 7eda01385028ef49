"""Extinction: the generation from which a breed stays below its detection floor to the end of the run."""

from __future__ import annotations


def extinction_generation(rows: list[dict], breed: str, floor: float) -> int | None:
    """First generation from which ``breed`` stays below the detection floor to the end, if any."""
    below = [row[f"share_{breed}"] < floor or row[f"share_{breed}"] == 0 for row in rows]
    if not below[-1]:
        return None
    first = len(below) - 1
    while first > 0 and below[first - 1]:
        first -= 1
    return int(rows[first]["generation"])


def extinctions(rows: list[dict], floors: dict[str, float]) -> dict[str, int | None]:
    """Each breed's extinction generation under its own detection floor (None: alive at the end).

    Only rows that hold the breed's share count, so a damaged run folder's report still works.
    """
    found = {}
    for breed, floor in floors.items():
        measured = [row for row in rows if f"share_{breed}" in row]
        found[breed] = extinction_generation(measured, breed, floor) if measured else None
    return found
