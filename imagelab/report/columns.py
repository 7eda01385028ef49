"""How the report shows metrics columns: which a run has, which are headline, and each value as text.

The columns come from the run itself (the metrics it declared, recorded in its manifest;
metrics/suite.py ``columns_of_run``), so a plugin metric's columns are shown like the
built-in ones, and a report builds where that plugin is not installed.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from imagelab.metrics.metric import Column
from imagelab.metrics.suite import DeclaredColumns, columns_of_run
from imagelab.runs.record import RunRecord


def declared_columns(record: RunRecord) -> list[DeclaredColumns]:
    """Each metric of the run with its columns, in metrics.csv order."""
    return columns_of_run(record.manifest, record.breeds)


def headline_columns(records: Sequence[RunRecord]) -> list[Column]:
    """The headline columns of ``records`` (each once, in order) that some row of theirs holds."""
    found: dict[str, Column] = {}
    for record in records:
        for declared in declared_columns(record):
            for column in declared.columns:
                measured = any(column.name in row for row in record.rows)
                if column.headline and measured and column.name not in found:
                    found[column.name] = column
    return list(found.values())


def shown(column: Column, value: Any) -> str:
    """A cell of ``column`` as text in its style; "–" where there is no finite number."""
    return {"count": as_count, "percent": as_percent}.get(column.style, as_number)(value)


def as_percent(value: Any, digits: int = 1) -> str:
    return f"{100 * float(value):.{digits}f}%" if is_number(value) else "–"


def as_number(value: Any, digits: int = 3) -> str:
    return f"{float(value):.{digits}g}" if is_number(value) else "–"


def as_count(value: Any) -> str:
    return f"{int(value):,}" if is_number(value) else "–"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
