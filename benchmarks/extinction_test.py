"""Error rates of the detectability test (imagelab/metrics/detectability.py) by simulation, known confusions.

    python benchmarks/extinction_test.py [--replicates 20000] [--out benchmarks/results/extinction_test.json]

Each replicate draws what a run would see: the judge's held-out confusion (``--held-out``
real images per breed, each judged by a known confusion matrix of true rates) and one
generation's samples (the default pool's long-tailed composition, 1,000 golden
retrievers down to the rarest breed, each image judged by the same rates). The test
then decides whether the rarest breed is detectable, and so does the earlier share
floor (the 95% Clopper-Pearson bound of the pooled held-out false-positive rate).

- False alarms: the rarest breed truly absent (0 images); the share of replicates in
  which it is called detectable, against alpha = 0.05.
- Power: k true images of it; the share of replicates in which it is detected.

The confusion matrices: "clean" (no error between breeds), "spread" (every breed sends
0.05% or 0.5% of its images to every other), "concentrated" (only the golden retriever errs
into the rarest breed, at the rate given), and "measured" (the rates of a default judge,
seed 0: its held-out counts below, as rates). Every judge also rejects 0.5% of images.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from measuring import cpu_name
from scipy.stats import beta

from imagelab.data.imbalance import breed_counts
from imagelab.judge.calibration import FLOOR_CONFIDENCE
from imagelab.metrics.detectability import errors_only_count, errors_only_limit

ALPHA = 0.05
UNRECOGNIZED_RATE = 0.005
# Held-out confusion of the default judge (imagelab run, seed 0, 1 CPU thread; judge/judge.json
# label_confusion, when the default held out 300 per breed): rows true breed, columns judged breed then
# unrecognized. Its rates are scaled to any held-out size.
MEASURED_CONFUSION = [
    [294, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6], [0, 299, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    [0, 0, 300, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 300, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 294, 0, 3, 0, 0, 0, 3], [0, 0, 0, 0, 0, 300, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 2, 0, 294, 0, 0, 1, 3], [0, 0, 0, 0, 0, 0, 0, 299, 1, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0, 300, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 298, 2]]
POWER_COUNTS = (1, 2, 5, 10, 15, 20, 30, 50)


def rates(kind: str, breeds: int, rate: float = 0.0) -> np.ndarray:
    """(K, K + 1) true P(judged j | true i), the last column unrecognized."""
    if kind == "measured":
        counts = np.asarray(MEASURED_CONFUSION, dtype=np.float64)
        return counts / counts.sum(1, keepdims=True)
    matrix = np.zeros((breeds, breeds + 1))
    matrix[:, breeds] = UNRECOGNIZED_RATE
    if kind == "spread":
        matrix[:, :breeds] = rate
    elif kind == "concentrated":
        matrix[0, breeds - 1] = rate  # the commonest breed errs into the rarest
    np.fill_diagonal(matrix, 0.0)
    matrix[np.arange(breeds), np.arange(breeds)] = 1.0 - matrix.sum(1)
    return matrix


def detection_rates(true_rates: np.ndarray, composition: np.ndarray, held_out: int, replicates: int,
                    rng: np.random.Generator) -> dict[str, float]:
    """Share of replicates in which the last breed is called detectable, by the test and by the floor."""
    k = len(composition)
    confusion = rng.multinomial(held_out, true_rates, size=(replicates, k))  # (R, K, K + 1) held-out counts
    judged = rng.multinomial(composition, true_rates, size=(replicates, k)).sum(1)[:, :k]  # (R, K)
    errors = confusion[..., :k]
    shape, scale = errors_only_count(judged, errors, errors.sum(-1))  # every replicate at once
    limits = errors_only_limit(shape, scale, ALPHA, cap=judged.sum(-1, keepdims=True))
    by_test = judged[:, -1] > limits[:, -1]
    # the earlier rule: the share at least the Clopper-Pearson bound of the pooled held-out false-positive rate
    false_positives = errors[:, :, -1].sum(1) - errors[:, -1, -1]
    others = confusion.sum((1, 2)) - confusion[:, -1].sum(1)
    floor = np.where(false_positives < others, beta.ppf(FLOOR_CONFIDENCE, false_positives + 1,
                                                        others - false_positives), 1.0)
    by_floor = (judged[:, -1] > 0) & (judged[:, -1] / composition.sum() >= floor)
    return {"test": float(by_test.mean()), "floor": float(by_floor.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=20_000, help="per false-alarm scenario")
    parser.add_argument("--power-replicates", type=int, default=4_000, help="per power cell")
    parser.add_argument("--held-out", type=int, nargs="+", default=[300, 1000, 3000],
                        help="held-out images per breed (data.eval_per_breed; the toy default is 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/extinction_test.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    pool = np.array(breed_counts("exponential", 10, max_count=1000, ratio=100.0, minority_fraction=0.5,
                                 counts=None))
    absent = pool.copy()
    absent[-1] = 0
    k = len(pool)
    scenarios = [("clean", 0.0), ("spread", 0.0005), ("spread", 0.005), ("concentrated", 0.001),
                 ("concentrated", 0.0033), ("concentrated", 0.01), ("concentrated", 0.02), ("concentrated", 0.05),
                 ("measured", 0.0)]
    slack = 3 * np.sqrt(ALPHA * (1 - ALPHA) / args.replicates)
    false_alarms = []
    for held_out in args.held_out:
        for kind, rate in scenarios:
            if kind == "measured" and held_out != 300:
                continue  # those rates are a 300-per-breed judge's
            found = detection_rates(rates(kind, k, rate), absent, held_out, args.replicates, rng)
            false_alarms.append({"confusion": kind, "rate": rate, "held_out_per_breed": held_out, **found})
            print(f"false alarms, {held_out} held out, {kind} {rate:.2%}: test {found['test']:.4f}, "
                  f"floor {found['floor']:.4f}")
    power = []
    for kind, rate in (("measured", 0.0), ("concentrated", 0.0033)):
        for held_out in args.held_out:
            for count in POWER_COUNTS:
                composition = pool.copy()
                composition[-1] = count
                found = detection_rates(rates(kind, k, rate), composition, held_out, args.power_replicates, rng)
                power.append({"confusion": kind, "rate": rate, "held_out_per_breed": held_out,
                              "true_images": count, **found})
                print(f"power, {kind} {rate:.2%}, {held_out} held out, {count} true: {found['test']:.3f}")
    result = {
        "what": "detectability test (metrics/detectability.py) vs the earlier share floor, by simulation: "
                "the rarest breed of the default pool absent (false alarms) or with k true images (power)",
        "alpha": ALPHA, "samples": int(pool.sum()), "composition": pool.tolist(),
        "replicates_false_alarm": args.replicates, "replicates_power": args.power_replicates,
        "monte_carlo_slack_3se": round(float(slack), 4),
        "false_alarms": false_alarms, "power": power,
        "seconds": round(time.perf_counter() - start, 1),
        "machine": f"{cpu_name()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.out} in {result['seconds']} s")


if __name__ == "__main__":
    main()
