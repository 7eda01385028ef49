"""Time the per-generation metric suite at the default run's size (2,480 samples, 10 breeds, 96 features).

    python benchmarks/metrics_speed.py [--repeats 5] [--threads 2] [--out benchmarks/results/metrics_speed.json]

``--threads`` sets torch's thread count around the suite, as the loop leaves it; the
suite itself computes its k-NN, kernel and per-breed statistics on one thread.

Features are synthetic (one Gaussian cluster per breed, the default pool's breed
counts, the default judge's 96 feature dimensions): the suite's cost depends on
the sizes, not on what the features mean. Times ``MetricSuite`` set-up (once per
run) and ``measure`` (once per generation: every built-in metric), on the
judge-feature FID.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
from measuring import cpu_name

from imagelab.config import EvalConfig
from imagelab.data.imageset import ImageSet
from imagelab.data.imbalance import breed_counts
from imagelab.judge.judgement import Judgement
from imagelab.metrics.metric import GenerationInputs, MetricContext
from imagelab.metrics.suite import MetricSuite

FEATURES = 96  # test_resnet's pre-logits width


def synthetic_judgement(counts: list[int], seed: int) -> Judgement:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    centres = 3 * torch.randn(len(counts), FEATURES, generator=torch.Generator().manual_seed(0))
    features = centres[labels] + torch.randn(len(labels), FEATURES, generator=generator)
    return Judgement(labels=labels, predicted=labels, confidence=torch.ones(len(labels)), features=features)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/metrics_speed.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    counts = breed_counts("exponential", 10, max_count=1000, ratio=100.0, minority_fraction=0.5, counts=None)
    breeds = tuple(f"breed_{i}" for i in range(len(counts)))
    reference = synthetic_judgement(counts, seed=1)
    images = torch.zeros(len(reference.labels), 3, 32, 32, dtype=torch.uint8)

    real_pool = ImageSet.create(images, reference.labels)
    confusion = torch.cat([torch.diag(torch.tensor(counts)), torch.zeros(len(counts), 1, dtype=torch.int64)], 1)
    context = MetricContext(breeds, real_pool, reference.features, dict.fromkeys(breeds, 0.001), confusion,
                            EvalConfig(), seed=0, device=torch.device("cpu"))
    start = time.perf_counter()
    metrics = MetricSuite(context)
    setup = time.perf_counter() - start
    generation_0 = synthetic_judgement(counts, seed=2)
    seconds, cpu_seconds = [], []
    for repeat in range(args.repeats):
        samples = synthetic_judgement(counts, seed=10 + repeat)
        start, cpu_start = time.perf_counter(), time.process_time()
        row = metrics.measure(GenerationInputs(1, ImageSet.create(images), samples, real_pool, generation_0, ()))
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)  # CPU time of all threads: robust to a busy machine
    result = {
        "what": "MetricSuite: set-up once per run, measure once per generation (judge-feature FID)",
        "samples": len(reference.labels), "breeds": len(breeds), "features": FEATURES, "columns": len(row),
        "threads": args.threads, "setup_seconds": round(setup, 4),
        "measure_seconds_median": round(statistics.median(seconds), 4),
        "measure_seconds_max": round(max(seconds), 4),
        "measure_cpu_seconds_median": round(statistics.median(cpu_seconds), 4),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "machine": f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads",
        "note": "shared machine, busy with other work while measured (see load_average_1min)",
        "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
