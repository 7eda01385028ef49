"""Plots of a run's metrics.csv rows (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never open a window
import matplotlib.pyplot as plt  # noqa: E402


def plot_breed_shares(rows: list[dict], breeds: tuple[str, ...], path: Path, title: str = "") -> None:
    """Two panels: stacked shares per generation, and each breed's share on a log scale."""
    generations = [row["generation"] for row in rows]
    colours = plt.get_cmap("tab10" if len(breeds) <= 10 else "tab20")
    figure, (stacked, lines) = plt.subplots(1, 2, figsize=(12, 4.2))
    series = [[row[f"share_{b}"] for row in rows] for b in breeds]
    unrecognized = [row["share_unrecognized"] for row in rows]
    stacked.stackplot(generations, *series, unrecognized, colors=[colours(i) for i in range(len(breeds))] + ["#bbbbbb"],
                      labels=[*breeds, "unrecognized"])
    stacked.set(xlabel="generation", ylabel="share of samples", ylim=(0, 1), xlim=(generations[0], generations[-1]),
                title="breed shares (stacked)")
    floor = 0.5 / max(row.get("samples", 1) for row in rows)  # draw zero shares just below one sample
    for i, (breed, values) in enumerate(zip(breeds, series)):
        lines.plot(generations, [max(v, floor) for v in values], marker="o", markersize=3, color=colours(i), label=breed)
    lines.set(xlabel="generation", ylabel="share of samples (log)", yscale="log", title="each breed (log scale)")
    lines.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
