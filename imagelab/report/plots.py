"""Plots of a run's metrics.csv rows (matplotlib, no display needed).

Rows are dicts with a ``generation`` and numeric columns (``share_<breed>``,
``fid``, ``breeds_alive``, ...); a missing column or cell is drawn as a gap, never
an error. Breed names come from data, so every label goes through ``_text``:
matplotlib would otherwise read ``$...$`` as mathtext and drop labels starting
with ``_`` from legends.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never open a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from imagelab.metrics.theory import drift_band  # noqa: E402

UNRECOGNIZED_COLOUR = "#bbbbbb"
DPI = 110


def _text(name: str) -> str:
    """A data-derived name as literal plot text."""
    escaped = str(name).replace("\\", "\\\\").replace("$", r"\$")
    return "\u200b" + escaped if escaped.startswith("_") else escaped


def _column(rows: list[dict], column: str) -> np.ndarray:
    """(len(rows),) float values of ``column``, NaN where absent."""
    values = [row.get(column) for row in rows]
    return np.array([float(v) if isinstance(v, (int, float)) else math.nan for v in values], dtype=np.float64)


def _colours(count: int) -> list:
    cmap = plt.get_cmap("tab10" if count <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(count)]


def _save(figure: plt.Figure, path: Path) -> None:
    figure.savefig(path, dpi=DPI)
    plt.close(figure)


def _label_panel_grid(axes: np.ndarray, used: int, ylabel: str) -> None:
    """A grid of small panels (rows x columns ``axes``): ``ylabel`` on the left column, "generation" along
    the bottom row, and the panels after the first ``used`` switched off."""
    for axis in axes[:, 0]:
        axis.set_ylabel(ylabel)
    for axis in axes[-1, :]:
        axis.set_xlabel("generation")
    for axis in list(axes.flat)[used:]:
        axis.axis("off")


def _generation_axis(axis: plt.Axes, generations: np.ndarray) -> None:
    axis.set_xlabel("generation")
    if len(generations):
        axis.set_xlim(generations[0], max(generations[-1], generations[0] + 1))
        axis.xaxis.get_major_locator().set_params(integer=True)


# --- one run -----------------------------------------------------------------------------------


def plot_breed_shares(rows: list[dict], breeds: Sequence[str], path: Path, title: str = "",
                      drift_population: int | None = None, drift_width: float = 2.0) -> None:
    """Two panels: stacked shares per generation, and each breed's share on a log scale.

    With ``drift_population`` N, both panels carry the neutral (Wright-Fisher)
    reference: E[p_t] = p_0 with a +/- ``drift_width`` SD band. On the stacked panel
    the band sits on each boundary between layers, since the cumulative share of the
    first k breeds drifts like a single breed.
    """
    generations = _column(rows, "generation")
    colours = _colours(len(breeds))
    figure, (stacked, lines) = plt.subplots(1, 2, figsize=(12, 4.4))
    series = (np.nan_to_num(np.stack([_column(rows, f"share_{b}") for b in breeds])) if breeds
              else np.zeros((0, len(rows))))
    unrecognized = np.nan_to_num(_column(rows, "share_unrecognized"))
    stacked.stackplot(generations, *series, unrecognized, colors=colours + [UNRECOGNIZED_COLOUR],
                      labels=[_text(b) for b in breeds] + ["unrecognized"])
    stacked.set(ylabel="share of samples", ylim=(0, 1), title="breed shares (stacked)")
    _generation_axis(stacked, generations)

    floor = 0.5 / max([row.get("samples", 1) for row in rows] + [1])  # draw zero shares just below one sample
    for colour, breed, values in zip(colours, breeds, series):
        lines.plot(generations, np.maximum(values, floor), marker="o", markersize=3, color=colour, label=_text(breed))
    lines.set(ylabel="share of samples (log)", yscale="log", title="each breed (log scale)")
    _generation_axis(lines, generations)

    if drift_population and len(rows) and breeds:
        t = generations - generations[0]
        # Stacked: the expected boundary between layers (dashed) and its band's edges (dotted).
        for boundary in np.cumsum(series[:, 0])[:-1]:
            low, high = drift_band(boundary, drift_population, t, drift_width)
            stacked.plot(generations, np.full_like(generations, boundary), color="black", linewidth=0.7, linestyle="--")
            stacked.fill_between(generations, low, high, facecolor="none", edgecolor="black", linewidth=0.5,
                                 linestyle=":")
        # Log panel: bands for the most common breed and the rarest ones (all of them if there are few).
        banded = range(len(breeds)) if len(breeds) <= 4 else [0, *range(len(breeds) - 3, len(breeds))]
        by_share = np.argsort(-series[:, 0], kind="stable")
        for index in (by_share[i] for i in banded):
            low, high = drift_band(series[index, 0], drift_population, t, drift_width)
            lines.fill_between(generations, np.maximum(low, floor), np.maximum(high, floor), color=colours[index],
                               alpha=0.15, linewidth=0)
        lines.plot([], [], color="grey", alpha=0.4, linewidth=6,
                   label=f"neutral drift ±{drift_width:g} SD\n(Wright–Fisher, N={drift_population:,})")
        stacked.set_title(f"breed shares (stacked); neutral drift: -- mean, ··· ±{drift_width:g} SD", fontsize=10)
    lines.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        figure.suptitle(_text(title))
    figure.tight_layout()
    _save(figure, path)


def plot_quality(rows: list[dict], path: Path, num_breeds: int | None = None) -> None:
    """FID, coverage (overall, per breed) with precision, and breeds detectable (``breeds_alive``) per generation.

    Coverage says 'not measured' for runs from before it was a column.
    """
    generations = _column(rows, "generation")
    figure, (fid, coverage, alive) = plt.subplots(1, 3, figsize=(12, 3.4))
    fid.plot(generations, _column(rows, "fid"), marker="o", markersize=3, color="tab:red")
    fid.set(ylabel="FID (judge features)", title="FID to real data (gen 0 = noise floor)")
    fid.set_ylim(bottom=0)
    if any("coverage" in row for row in rows):
        # Per breed (thin): how much of each real breed the samples still reach; overall and precision bold.
        per_breed = [c for c in rows[0] if c.startswith("coverage_")] if rows else []
        for colour, column in zip(_colours(len(per_breed)), per_breed):  # the breed colours of the share plot
            coverage.plot(generations, _column(rows, column), color=colour, linewidth=0.8, alpha=0.7)
        coverage.plot(generations, _column(rows, "coverage"), marker="o", markersize=3, color="black", linewidth=2,
                      label="coverage (all)")
        coverage.plot(generations, _column(rows, "precision"), marker="s", markersize=3, color="tab:green",
                      linestyle="--", label="precision")
        coverage.set(ylabel="coverage / precision", ylim=(0, 1.05))
        coverage.legend(fontsize=7, loc="best")
    else:
        coverage.text(0.5, 0.5, "coverage: not measured", ha="center", va="center", transform=coverage.transAxes,
                      color="grey")
        coverage.set_yticks([])
    coverage.set_title("coverage of real data\n(thin: per breed, colours as in the share plot)", fontsize=10)
    alive.step(generations, _column(rows, "breeds_alive"), where="mid", color="tab:blue", marker="o", markersize=3)
    alive.set(ylabel="breeds detectable", title="breeds detectable above the judge's errors")
    alive.set_ylim(0, (num_breeds or np.nanmax(_column(rows, "breeds_alive"), initial=1)) + 0.5)
    alive.yaxis.get_major_locator().set_params(integer=True)
    for axis in (fid, coverage, alive):
        _generation_axis(axis, generations)
    figure.tight_layout()
    _save(figure, path)


def plot_share_heatmap(rows: list[dict], breeds: Sequence[str], path: Path, *, generations: Sequence[int] = (),
                       extinct_at: dict[str, int | None] | None = None, annotate: bool | None = None) -> None:
    """Breed x generation shares (log colour scale), extinctions marked, missing generations hatched.

    ``generations`` lists every column to draw (planned ones included); a column
    without a row is hatched and labelled missing. From a breed's extinction
    generation on, its cells carry a cross and the first one a red frame.
    """
    by_generation = {row["generation"]: row for row in rows}
    columns = sorted(set(generations) | set(by_generation))
    names = list(breeds) + ["unrecognized"]
    shares = np.full((len(names), len(columns)), np.nan)
    for j, generation in enumerate(columns):
        row = by_generation.get(generation)
        if row is not None:
            shares[:, j] = np.nan_to_num([row.get(f"share_{name}", math.nan) for name in names])
    samples = max([row.get("samples", 1) for row in rows] + [1])
    floor = 0.5 / samples
    if annotate is None:
        annotate = len(columns) <= 16
    width = min(max(6.0, 0.62 * len(columns) + 3.5), 16.0)  # long runs get narrower cells, not a wider figure
    figure, axis = plt.subplots(figsize=(width, 0.38 * len(names) + 1.6))
    cmap = plt.get_cmap("viridis").with_extremes(bad="#f2f2f2")
    shown = np.ma.masked_invalid(np.where(np.isnan(shares), np.nan, np.maximum(shares, floor)))
    image = axis.imshow(shown, aspect="auto", cmap=cmap, norm=LogNorm(vmin=floor, vmax=1.0), interpolation="nearest")
    figure.colorbar(image, ax=axis, label="share of samples (log)", fraction=0.04, pad=0.02)
    extinct_at = extinct_at or {}
    for i, name in enumerate(names):
        lost = extinct_at.get(name) if i < len(breeds) else None
        for j, generation in enumerate(columns):
            value = shares[i, j]
            if math.isnan(value):
                axis.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="#bbbbbb",
                                         linewidth=0))
                continue
            gone = lost is not None and generation >= lost
            if gone:
                axis.text(j, i, "×", ha="center", va="center", color="#ff4d4d", fontsize=11, fontweight="bold")
            elif annotate:
                bright = value > 10 ** (0.6 * math.log10(floor))  # dark text on the light end of viridis
                axis.text(j, i, f"{100 * value:.1f}" if value < 0.1 else f"{100 * value:.0f}", ha="center",
                          va="center", fontsize=7, color="black" if bright else "white")
            if lost is not None and generation == lost:
                axis.add_patch(Rectangle((j - 0.47, i - 0.47), 0.94, 0.94, fill=False, edgecolor="#ff4d4d",
                                         linewidth=1.6))
    every = max(1, math.ceil(len(columns) / 25))
    ticks = range(0, len(columns), every)
    labels = [str(columns[j]) if columns[j] in by_generation else f"{columns[j]}\nmissing" for j in ticks]
    axis.set_xticks(ticks, labels, fontsize=8)
    axis.set_yticks(range(len(names)), [_text(n) for n in names], fontsize=8)
    axis.set_xlabel("generation")
    axis.set_title("share of samples per breed (%); × = undetectable from then on (within the judge's errors)",
                   fontsize=9)
    figure.tight_layout()
    _save(figure, path)


# --- several runs ------------------------------------------------------------------------------


def plot_runs_overlaid(runs: Sequence[tuple[str, list[dict]]], breeds: Sequence[str], path: Path) -> None:
    """One line per run: the shares of ``breeds`` (log), unrecognized, FID and breeds alive per generation."""
    panels = [(f"share_{b}", f"share: {_text(b)}", True) for b in breeds]
    panels += [("share_unrecognized", "share: unrecognized", False), ("fid", "FID (judge features)", False),
               ("breeds_alive", "breeds detectable", False)]
    columns = 3
    rows_of_panels = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows_of_panels, columns, figsize=(12, 3.1 * rows_of_panels + 0.5), squeeze=False)
    colours = _colours(len(runs))
    for axis, (column, title, log) in zip(axes.flat, panels):
        for colour, (label, rows) in zip(colours, runs):
            generations = _column(rows, "generation")
            values = _column(rows, column)
            if log:
                values = np.maximum(values, 0.5 / max([row.get("samples", 1) for row in rows] + [1]))
            axis.plot(generations, values, marker="o", markersize=3, color=colour, label=_text(label))
        axis.set(title=title, xlabel="generation")
        if log:
            axis.set_yscale("log")
        axis.xaxis.get_major_locator().set_params(integer=True)
    for axis in list(axes.flat)[len(panels):]:
        axis.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(runs), 4), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.06 if len(runs) <= 4 else 0.1, 1, 1))
    _save(figure, path)
