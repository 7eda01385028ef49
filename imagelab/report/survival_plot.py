"""The survival plot: per breed, the share of seeds (or runs) in which it is still detectable, per generation,
with the resampling null's exact Wright-Fisher survival drawn beside it (metrics/survival.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from imagelab.report.plots import _colours, _label_panel_grid, _save, _text, plt

MAX_PANELS = 12  # breeds drawn; with more, the rarest (by the null's survival, else the order given)


def plot_survival(curves: Sequence[tuple[str, list[dict]]], breeds: Sequence[str], path: Path,
                  null: dict[str, list[float]] | None = None, population: int | None = None) -> list[str]:
    """One panel per breed: each curve's ``surviving_<breed>`` per generation (a step line, one per run) and the
    null's survival (dashed); ``curves``: (label, survival rows). Returns the breeds drawn."""
    if null and len(breeds) > MAX_PANELS:
        breeds = sorted(breeds, key=lambda breed: null[breed][-1])[:MAX_PANELS]  # the first to go
    breeds = list(breeds)[:MAX_PANELS]
    columns = min(4, max(1, len(breeds)))
    rows_of_panels = math.ceil(len(breeds) / columns)
    figure, axes = plt.subplots(rows_of_panels, columns, figsize=(3.1 * columns, 2.5 * rows_of_panels + 0.7),
                                squeeze=False, sharey=True)
    colours = _colours(len(curves))
    for axis, breed in zip(axes.flat, breeds):
        for colour, (label, rows) in zip(colours, curves):
            generations = [row["generation"] for row in rows if f"surviving_{breed}" in row]
            shares = [row[f"surviving_{breed}"] for row in rows if f"surviving_{breed}" in row]
            axis.step(generations, shares, where="post", color=colour, marker="o", markersize=3, label=_text(label))
        if null and breed in null:
            axis.plot(range(len(null[breed])), null[breed], color="black", linestyle="--", linewidth=1,
                      label="null: exact Wright–Fisher" + (f" (N={population:,})" if population else ""))
        axis.set_title(_text(breed), fontsize=9)
        axis.set_ylim(-0.03, 1.05)
        axis.xaxis.get_major_locator().set_params(integer=True)
    _label_panel_grid(axes, len(breeds), "still detectable")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.08 + 0.02 * (len(labels) > 4), 1, 1))
    _save(figure, path)
    return breeds
