"""How likely each breed's change over a run is under neutral drift alone (the `resample` null).

For each breed, the exact Wright-Fisher chain (imagelab/metrics/wright_fisher.py) starts from its
judged count in generation 0 and runs as many generations as the run has, with the pool's size
as the population; the script prints the one-sided probabilities of ending at or below, and at or
above, the breed's count in the last generation. Counts are of the *recognized* samples scaled to
the population (a chain has no unrecognized images: 10% unrecognized would otherwise read as every
breed losing a tenth). A small value means drift alone rarely
moves a breed that far; one run gives one such test per breed, not an interval.

    python scripts/neutral_drift_pvalues.py runs/readme
"""

from __future__ import annotations

import argparse
from pathlib import Path

import imagelab
from imagelab.metrics.wright_fisher import count_distribution


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args()
    run = imagelab.load_run(args.run_dir)
    first, last = run.rows[0], run.rows[-1]
    population = len(run.samples(0))  # the real pool; every generation samples as many
    print(f"{'breed':<30} {'count 0':>8} {'count ' + str(last['generation']):>9} {'P(<=)':>8} {'P(>=)':>8}")
    for breed in run.breeds:
        start, end = (round(float(row[f"share_{breed}"]) / (1 - float(row["share_unrecognized"])) * population)
                      for row in (first, last))
        final = count_distribution(start, population, int(last["generation"]))[-1]
        print(f"{breed:<30} {start:>8} {end:>9} {final[:end + 1].sum():>8.4f} {final[end:].sum():>8.4f}")


if __name__ == "__main__":
    main()
