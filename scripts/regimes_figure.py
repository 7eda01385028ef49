"""Make the README's comparison of regimes: run a sweep (or resume it), then plot each regime's mean over seeds.

    python scripts/regimes_figure.py --out assets     # runs configs/sweeps/regimes-toy.yaml into runs/regimes-toy

Writes OUT/regimes.png (means over seeds with 95% confidence bands) and OUT/regimes.json
(the plotted numbers), and prints the final generation's means.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from imagelab.experiments.seeds import aggregate  # noqa: E402
from imagelab.experiments.sweep import load_sweep, run_sweep  # noqa: E402
from imagelab.runs.record import load_run  # noqa: E402

TAIL = 5  # the rarest breeds of generation 0 whose summed share is plotted
PANELS = (("tail_share", f"share of the {TAIL} rarest breeds"), ("tv_to_real", "TV distance to the real shares"),
          ("share_unrecognized", "share unrecognized"), ("fid", "FID (judge features)"))


def with_tail_share(rows: list[dict], breeds: tuple[str, ...]) -> list[dict]:
    """Rows with ``tail_share``: the summed share of the breeds that were rarest at generation 0."""
    rarest = sorted(breeds, key=lambda breed: rows[0][f"share_{breed}"])[:TAIL]
    return [{**row, "tail_share": sum(row[f"share_{breed}"] for breed in rarest)} for row in rows]


def group_label(values: dict) -> str:
    parts = [str(values["loop.regime"])] + [f"{key.split('.')[-1]} {value}" for key, value in values.items()
                                           if key not in ("loop.regime", "seed")]
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", default="regimes-toy",
                        help="a sweep file or bundled sweep with loop.regime and seed")
    parser.add_argument("--runs", type=Path, help="the sweep's run folder (default: runs/<sweep name>)")
    parser.add_argument("--out", type=Path, default=Path("assets"))
    args = parser.parse_args()
    sweep = load_sweep(args.sweep)
    runs = (args.runs or Path("runs") / sweep.name).resolve()
    run_sweep(sweep, runs)

    groups: dict[str, dict[int, list[dict]]] = {}
    for run in sweep.runs:
        record = load_run(runs / run.name)
        groups.setdefault(group_label(run.values), {})[run.values["seed"]] = with_tail_share(record.rows, record.breeds)
    tables = {label: aggregate(rows_by_seed) for label, rows_by_seed in groups.items()}

    figure, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.4), constrained_layout=True)
    for axis, (column, title) in zip(axes, PANELS):
        for label, table in tables.items():
            generations = [row["generation"] for row in table]
            mean = [row[f"{column}_mean"] for row in table]
            line, = axis.plot(generations, mean, marker="o", markersize=3, label=label)
            axis.fill_between(generations, [row[f"{column}_ci95_low"] for row in table],
                              [row[f"{column}_ci95_high"] for row in table], color=line.get_color(), alpha=0.2)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("generation")
        axis.grid(alpha=0.3)
    seeds = sorted({len(rows) for rows in groups.values()})
    axes[0].legend(fontsize=8)
    figure.suptitle(f"mean over {'/'.join(map(str, seeds))} seeds, 95% confidence bands ({sweep.name})", fontsize=10)
    args.out.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out / "regimes.png", dpi=110)
    plotted = {label: [{k: v for k, v in row.items() if k in ("generation", "seeds")
                        or any(k.startswith(f"{column}_") for column, _ in PANELS)} for row in table]
               for label, table in tables.items()}
    (args.out / "regimes.json").write_text(json.dumps(plotted, indent=1))
    for label, table in tables.items():
        last = table[-1]
        print(f"{label:<28} generation {last['generation']}: " + ", ".join(
            f"{column} {last[f'{column}_mean']:.3f} "
            f"[{last[f'{column}_ci95_low']:.3f}, {last[f'{column}_ci95_high']:.3f}]"
            for column, _ in PANELS))
    print(f"wrote {args.out / 'regimes.png'} and {args.out / 'regimes.json'}")


if __name__ == "__main__":
    main()
