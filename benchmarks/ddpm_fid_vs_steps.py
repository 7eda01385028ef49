"""FID against sampling steps for a trained ``ddpm`` generator: few-step solvers against ancestral DDPM.

Takes a finished run of a ddpm preset (its resolved config, its judge and a generation's
saved generator), draws the same number of images with each sampler and step count
(the same per-sample seeds), and measures what the lab measures: FID on the judge's
features against the run's held-out real reference set, the unrecognized share, and
the wall time of sampling.

    imagelab run toy-ddpm --out runs/toy-ddpm
    python benchmarks/ddpm_fid_vs_steps.py runs/toy-ddpm --out benchmarks/results/ddpm_fid_vs_steps_cpu.json
    python benchmarks/ddpm_fid_vs_steps.py runs/toy-ddpm --schedule dpmsolver++:10,20,50 ddpm:1000
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import time
from pathlib import Path

import torch
from measuring import cpu_name

from imagelab.config import load_config
from imagelab.data import build_real_data
from imagelab.generators import load_generator
from imagelab.judge.cache import obtain_judge
from imagelab.metrics.breeds import breed_shares
from imagelab.metrics.fid import FeatureFID
from imagelab.report.grids import sample_grid
from imagelab.runtime.device import resolve_device

DEFAULT_SCHEDULE = ["dpmsolver++:10,20,50", "ddim:20", "ddpm:100,1000"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--generation", type=int, default=1, help="whose saved generator to sample")
    parser.add_argument("--samples", type=int, default=None, help="images per setting (default: the pool size)")
    parser.add_argument("--schedule", nargs="+", default=DEFAULT_SCHEDULE, metavar="SAMPLER:STEPS,...")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: a shared machine)")
    parser.add_argument("--grids", type=Path, default=None, help="write a grid.png per setting here")
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(str(args.run_dir / "config.yaml"))
    device = resolve_device(config.device)
    data = build_real_data(config.data)
    judge, _ = obtain_judge(config, data, device, args.run_dir / "judge")
    fid = FeatureFID(judge.judge(data.reference.images).features)
    generator = load_generator(args.run_dir / f"gen_{args.generation:03d}" / "generator", device)
    samples = args.samples or len(data.pool)

    if args.grids:
        args.grids.mkdir(parents=True, exist_ok=True)
    rows = []
    for item in args.schedule:
        sampler, _, counts = item.partition(":")
        for steps in (int(c) for c in counts.split(",")):
            generator.config = dataclasses.replace(generator.config, sampler=sampler, sampling_steps=steps)
            start = time.perf_counter()
            images = generator.sample(samples, seed=args.seed).images
            seconds = time.perf_counter() - start
            judgement = judge.judge(images)
            shares = breed_shares(judgement.labels, len(data.breeds))
            row = {"sampler": sampler, "steps": steps, "fid": round(fid(judgement.features), 3),
                   "share_unrecognized": round(float(shares[-1]), 4), "sample_seconds": round(seconds, 1)}
            print(json.dumps(row), flush=True)
            rows.append(row)
            if args.grids:
                sample_grid(images, args.grids / f"{sampler}-{steps}.png", 64)

    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": {"cpu": cpu_name(), "cores": os.cpu_count(),
                          "threads_used": torch.get_num_threads(), "device": str(device),
                          "load_average_at_end": os.getloadavg(), "torch": torch.__version__},
              "run": {"config": str(args.run_dir / "config.yaml"), "generation": args.generation,
                      "generator": {k: v for k, v in dataclasses.asdict(generator.config).items()
                                    if k not in ("sampler", "sampling_steps")},
                      "samples_per_setting": samples, "real_pool_fid": "see the run's metrics.csv, generation 0"},
              "rows": rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
