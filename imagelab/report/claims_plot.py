"""The claims figure: one row per claim of a sweep, each seed's paired difference B - A, their mean and its
95% interval against the claim's threshold (experiments/claims.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from imagelab.report.plots import _save, _text, plt

VERDICT_COLOURS = {"agreed": "#2a7f3f", "contradicted": "#b2182b", "not shown": "#777777"}


def plot_claims(rows: Sequence[dict], path: Path) -> None:
    """``rows``: claims.csv rows with ``differences`` (each seed's B - A) and ``threshold`` (0, or -margin)."""
    figure, axes = plt.subplots(len(rows), 1, figsize=(7.5, 0.95 * len(rows) + 0.6), squeeze=False)
    for axis, row in zip(axes[:, 0], rows):
        colour = VERDICT_COLOURS.get(row["verdict"], "black")
        differences = row["differences"]
        axis.axvline(row["threshold"], color="black", linewidth=0.8, linestyle="--" if row["threshold"] else "-")
        axis.plot(differences, [0.0] * len(differences), "o", color=colour, alpha=0.45, markersize=4)
        if math.isfinite(row["difference_ci95_low"]):
            axis.errorbar([row["difference_mean"]], [0.0], capsize=4, color=colour, marker="D", markersize=5,
                          xerr=[[row["difference_mean"] - row["difference_ci95_low"]],
                                [row["difference_ci95_high"] - row["difference_mean"]]])
        since = f" − gen {row['since']}" if row["since"] != "" else ""
        axis.set_title(_text(f"{row['direction']}: {row['metric']} at gen {row['generation']}{since}, "
                             f"B − A over {row['seeds']} seeds — {row['verdict']}"), fontsize=8, loc="left")
        axis.set_yticks([])
        axis.tick_params(axis="x", labelsize=7)
        low, high = min([row["threshold"], *differences]), max([row["threshold"], *differences])
        pad = 0.15 * (high - low or 1.0)
        axis.set_xlim(low - pad, high + pad)
    figure.tight_layout()
    _save(figure, path)
