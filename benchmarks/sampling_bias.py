"""Sampling-bias benchmark: what ``generator.sampling_bias`` does to generation 1, paired over seeds.

For each seed it builds the lab's real data and judge (as a run does; the judge is
cached), fits generation 1's generator on the real pool once (the fit does not depend
on the bias), then draws generation 1's samples at every ``--biases`` value from the
same fitted model and sample seed, as the loop would. Per draw: precision, recall,
coverage (k-NN, on judge features, against the reference split), FID (judge
features), the share of the ``eval.tail_breeds`` rarest breeds, TV to the real pool
and the unrecognized share. Differences against bias 0 are paired by seed, with 95%
Student-t intervals. The papers' sampling bias keeps precision (at most 0.01 below
unbiased) while recall and coverage fall.

    python benchmarks/sampling_bias.py                                  # vae, default data, 3 seeds
    python benchmarks/sampling_bias.py --seeds 2 --data-scale 0.5 generator.name=latent-diffusion
    python benchmarks/sampling_bias.py --config toy-latent-diffusion --biases 0 0.5

Trailing KEY=VALUE arguments are run-config overrides. Writes
benchmarks/results/sampling_bias_<generator>.json (or ``--out``) and a markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch
from measuring import cpu_name
from scipy import stats

from imagelab.config import load_config
from imagelab.data import build_real_data
from imagelab.generators import DataSpec, build_generator
from imagelab.judge.cache import obtain_judge
from imagelab.metrics.breeds import breed_shares, total_variation
from imagelab.metrics.coverage import RealManifold
from imagelab.metrics.diversity import rarest_breeds
from imagelab.metrics.fid import FeatureFID
from imagelab.runtime.device import resolve_device
from imagelab.seeding import derive_seed

RESULTS = Path(__file__).parent / "results"
METRICS = ("precision", "recall", "coverage", "fid", "tail_share", "tv_to_real", "unrecognized")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="a preset name or YAML path (default: the embedded default)")
    parser.add_argument("--seeds", type=int, default=3, help="run seeds 0..N-1 (default 3)")
    parser.add_argument("--biases", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75])
    parser.add_argument("--data-scale", type=float, default=1.0,
                        help="multiplies data.imbalance.max_count (the pool's size; 0.5: half the default data)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: shared machines)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/...)")
    parser.add_argument("overrides", nargs="*", help="run-config overrides, e.g. generator.name=latent-diffusion")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.biases[0] != 0:
        args.biases = [0.0, *args.biases]  # the unbiased draw is what every difference is paired against
    torch.set_num_threads(args.threads)
    scale = load_config(args.config, args.overrides).data.imbalance.max_count
    overrides = [*args.overrides, f"data.imbalance.max_count={max(1, round(scale * args.data_scale))}"]
    work = Path(tempfile.mkdtemp(prefix="imagelab-sampling-bias-"))

    per_seed: list[dict] = []
    for seed in range(args.seeds):
        config = load_config(args.config, [*overrides, f"seed={seed}"])
        per_seed.append(measure_seed(config, args.biases, work / f"seed{seed}"))
        print(f"seed {seed}: " + "; ".join(f"b={b}: " + ", ".join(f"{m} {v:.4f}" for m, v in row.items())
                                          for b, row in per_seed[-1]["by_bias"].items()), flush=True)

    result = {
        "what": "generation 1 at each sampling_bias, paired over seeds (differences against sampling_bias 0)",
        "command": "python benchmarks/sampling_bias.py " + " ".join(
            ([f"--config {args.config}"] if args.config else [])
            + [f"--seeds {args.seeds}", "--biases " + " ".join(map(str, args.biases)),
               f"--data-scale {args.data_scale}", f"--threads {args.threads}", *args.overrides]),
        "generator": dataclasses.asdict(load_config(args.config, overrides).generator),
        "machine": {"cpu": cpu_name(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__},
        "per_seed": per_seed,
        "differences": paired_differences(per_seed, args.biases),
    }
    name = result["generator"]["name"]
    out = args.out or RESULTS / f"sampling_bias_{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result["differences"])
    print(f"written to {out}")


def measure_seed(config, biases: list[float], folder: Path) -> dict:
    """Generation 1 of the run ``config`` at every bias, from one fitted generator."""
    device = resolve_device(config.device)
    data = build_real_data(config.data)
    judge, _ = obtain_judge(config, data, device, folder / "judge")
    breeds = len(data.breeds)
    reference = judge.judge(data.reference.images)
    manifold = RealManifold(reference.features, config.eval.nearest_k)
    fid = FeatureFID(reference.features)
    tail = rarest_breeds(data.reference.labels, breeds, min(config.eval.tail_breeds, breeds))
    real_shares = breed_shares(judge.judge(data.pool.images).labels, breeds)

    generator = build_generator(config.generator, DataSpec(config.data.resolution, breeds), device)
    started = time.perf_counter()
    generator.fit(data.pool, seed=derive_seed(config.seed, "fit", 1))
    fit_seconds = time.perf_counter() - started
    by_bias = {}
    for bias in biases:
        generator.config = dataclasses.replace(config.generator, sampling_bias=bias)
        samples = generator.sample(len(data.pool), seed=derive_seed(config.seed, "sample", 1))
        judged = judge.judge(samples.images)
        scores = manifold.score(judged.features)
        shares = breed_shares(judged.labels, breeds)  # breeds, then unrecognized
        recognized = shares[:-1] / shares[:-1].sum().clamp(min=1e-12)
        by_bias[str(bias)] = {"precision": scores.precision, "recall": scores.recall, "coverage": scores.coverage,
                              "fid": fid(judged.features), "tail_share": float(recognized[tail].sum()),
                              "tv_to_real": total_variation(shares, real_shares),
                              "unrecognized": float(shares[-1])}
    return {"seed": config.seed, "fit_seconds": round(fit_seconds, 1), "by_bias": by_bias}


def paired_differences(per_seed: list[dict], biases: list[float]) -> dict:
    """Per bias > 0 and metric: the mean over seeds of (value at bias - value at 0), with a 95% t-interval."""
    table = {}
    for bias in biases[1:]:
        row = {}
        for metric in METRICS:
            deltas = [s["by_bias"][str(bias)][metric] - s["by_bias"]["0.0"][metric] for s in per_seed]
            mean = statistics.fmean(deltas)
            half = math.nan
            if len(deltas) > 1:
                half = stats.t.ppf(0.975, len(deltas) - 1) * statistics.stdev(deltas) / math.sqrt(len(deltas))
            row[metric] = {"mean": mean, "low": mean - half, "high": mean + half, "deltas": deltas}
        table[str(bias)] = row
    return table


def print_table(differences: dict) -> None:
    print("| sampling_bias | " + " | ".join(METRICS) + " |")
    print("|---|" + "---|" * len(METRICS))
    for bias, row in differences.items():
        cells = [f"{row[m]['mean']:+.4f} [{row[m]['low']:+.4f}, {row[m]['high']:+.4f}]" for m in METRICS]
        print(f"| {bias} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
