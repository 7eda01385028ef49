"""The tables experiments write and print: CSV files of rows (NaN as an empty cell) and aligned text."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Sequence

from imagelab.runs.atomic import atomic_write_text


def columns_of(rows: Sequence[dict]) -> list[str]:
    """Every key of ``rows``, in the order first met."""
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    return columns


def write_csv(path: Path, rows: Sequence[dict], fallback: Sequence[str] = ()) -> None:
    """``rows`` as a CSV file, written atomically; ``fallback``: the header when there are no rows."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns_of(rows) or list(fallback), restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows([{k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
                      for row in rows])
    atomic_write_text(path, buffer.getvalue())


def format_table(rows: Sequence[dict]) -> str:
    """``rows`` as aligned text columns, numbers to 4 significant digits (NaN as "–")."""
    columns = columns_of(rows)
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths)) for line in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4g}"
    return str(value)
