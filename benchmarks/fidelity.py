"""Fidelity benchmark: does generation 1 look like generation 0, and do rare breeds fade afterwards?

Builds the default real data (the long-tailed toy-dog pool, the balanced judge
splits), obtains the judge (trained once, then cached like in a run), and runs a
fully synthetic replace loop: each generation fits a *fresh* generator on the
previous generation's samples and draws as many images as the real pool has. For
every generation it prints the judged breed shares, the unrecognized share, the
total variation to generation 0 (unrecognized included) and the fit and sample
times. DESIGN.md ("Fidelity first") asks generation 1 to be within TV 0.10 of
generation 0 with at most 5% unrecognized.

    python benchmarks/fidelity.py                       # vae, 3 generations
    python benchmarks/fidelity.py --generations 5 --threads 2 generator.epochs=20
    python benchmarks/fidelity.py generator.name=resample

Trailing KEY=VALUE arguments are ordinary run-config overrides. A thin script on
purpose: the lab's own loop (``imagelab run``) is the real thing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from imagelab.config import load_config
from imagelab.data import build_real_data
from imagelab.generators import DataSpec, build_generator
from imagelab.judge.cache import obtain_judge
from imagelab.metrics.breeds import breed_shares, total_variation
from imagelab.report.grids import sample_grid
from imagelab.runtime.device import resolve_device
from imagelab.seeding import derive_seed


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: shared machines)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the judge copy and sample grids")
    parser.add_argument("overrides", nargs="*", help="run-config overrides, e.g. generator.epochs=20 seed=1")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(None, args.overrides)
    device = resolve_device(config.device)
    out = args.out or Path(tempfile.mkdtemp(prefix="imagelab-fidelity-"))
    out.mkdir(parents=True, exist_ok=True)

    # 1. Real data and the judge.
    data = build_real_data(config.data)
    started = time.perf_counter()
    judge, origin = obtain_judge(config, data, device, out / "judge")
    print(f"judge ({origin}, {time.perf_counter() - started:.1f} s): held-out accuracy {judge.accuracy:.3f}, "
          f"real rejected {judge.real_rejected:.3f}, degenerate rejected {judge.degenerate_rejected}")
    print(f"generator: {config.generator}")
    print(f"threads {torch.get_num_threads()}, device {device}, grids in {out}")

    # 2. Generation 0 is the real pool.
    breeds = data.breeds
    real_shares = breed_shares(judge.judge(data.pool.images).labels, len(breeds))
    print("gen  " + " ".join(f"{name[:6]:>6}" for name in breeds) + "  unrec     TV   fit_s  sample_s")
    print_row(0, real_shares, real_shares, float("nan"), float("nan"))

    # 3. Fully synthetic replace loop, a fresh generator each generation.
    pool = data.pool
    spec = DataSpec(config.data.resolution, len(breeds))
    for generation in range(1, args.generations + 1):
        generator = build_generator(config.generator, spec, device)
        started = time.perf_counter()
        generator.fit(pool, seed=derive_seed(config.seed, "fit", generation))
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        samples = generator.sample(len(data.pool), seed=derive_seed(config.seed, "sample", generation))
        sample_seconds = time.perf_counter() - started
        shares = breed_shares(judge.judge(samples.images).labels, len(breeds))
        print_row(generation, shares, real_shares, fit_seconds, sample_seconds)
        sample_grid(samples.images, out / f"gen_{generation:03d}.png", 64)
        pool = samples


def print_row(generation: int, shares: torch.Tensor, real_shares: torch.Tensor, fit_s: float, sample_s: float) -> None:
    cells = " ".join(f"{float(s):6.3f}" for s in shares[:-1])
    tv = total_variation(shares, real_shares)
    print(f"{generation:3d}  {cells}  {float(shares[-1]):5.3f}  {tv:5.3f}  {fit_s:6.2f}  {sample_s:8.3f}", flush=True)


if __name__ == "__main__":
    main()
