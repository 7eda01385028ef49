"""The distinct-images plot: ``distinct`` overall and per breed per generation, against the resampling null's
95% band of surviving lineages (metrics/distinct_null.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from imagelab.metrics.distinct_null import distinct_null_bands
from imagelab.report.plots import _colours, _column, _label_panel_grid, _save, _text, plt

MAX_PANELS = 12  # "all" and the first 11 breeds


def plot_distinct(rows: list[dict], breeds: Sequence[str], path: Path, population: int | None) -> bool:
    """One panel for all samples and one per breed: the run's distinct images, and where ``population`` is given
    (a replace loop without real data) the null's median (dashed) and 95% band (shaded). False, and nothing
    drawn, when generation 0 has no ``distinct`` column (runs from before it)."""
    if not rows or rows[0].get("generation") != 0 or not _finite(rows[0].get("distinct")):
        return False
    groups = ["all", *[breed for breed in breeds if _finite(rows[0].get(f"distinct_{breed}"))]][:MAX_PANELS]
    generations = _column(rows, "generation")
    bands = None
    if population:
        lineages = {group: int(rows[0]["distinct" if group == "all" else f"distinct_{group}"]) for group in groups}
        bands = distinct_null_bands(lineages, int(rows[0]["samples"]), population, int(np.nanmax(generations)))
    columns = min(4, len(groups))
    figure, axes = plt.subplots(math.ceil(len(groups) / columns), columns, squeeze=False,
                                figsize=(3.1 * columns, 2.4 * math.ceil(len(groups) / columns) + 0.5))
    colours = ["black", *_colours(len(breeds))]
    for axis, group in zip(axes.flat, groups):
        colour = colours[0 if group == "all" else 1 + list(breeds).index(group)]
        values = _column(rows, "distinct" if group == "all" else f"distinct_{group}")
        if bands is not None:
            band = bands[group]
            steps = np.arange(len(band.median))
            axis.fill_between(steps, band.low, band.high, color="grey", alpha=0.25, linewidth=0)
            axis.plot(steps, band.median, color="grey", linestyle="--", linewidth=1)
        axis.plot(generations, values, marker="o", markersize=3, color=colour)
        axis.set_title(_text("all samples" if group == "all" else group), fontsize=9)
        axis.set_ylim(bottom=0)
        axis.xaxis.get_major_locator().set_params(integer=True)
    _label_panel_grid(axes, len(groups), "distinct images")
    figure.tight_layout()
    _save(figure, path)
    return True


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
