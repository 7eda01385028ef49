"""What one optimiser step of the default VAE costs on this CPU, by batch size and memory layout.

The default lab's time is mostly the VAE's fits (10 fits of 10 epochs of 104 steps of 24
images), so the cost of a step decides it. Each setting trains a fresh ConvVAE of the
default size (32 px, width 16, 64 latents) on random images for ``--steps`` steps after a
short warm-up, three times interleaved with the other settings; the median milliseconds per
step and per image, with the machine and its load, go to
benchmarks/results/vae_step_cost.json. A step that cost in proportion to its images would
make larger batches free of overhead; a step with a large fixed part means fewer, larger
steps only pay when the fit converges in fewer of them. At batches 24 and 48 it also times
the step under bf16 autocast and under ``torch.compile`` (inductor's CPU backend, which needs
a C compiler), the two settings ``generator.precision`` and ``generator.compile`` give a CPU,
and records the seconds of their first steps (compilation included).

    python benchmarks/vae_step_cost.py [--threads 2] [--steps 100]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from measuring import cpu_name

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's imagelab

from imagelab.generators.vae import ConvVAE, VAEConfig, vae_loss  # noqa: E402 - after the path is set

RESULTS = Path(__file__).parent / "results" / "vae_step_cost.json"
BATCHES = (8, 12, 16, 24, 48)
ACCELERATED_BATCHES = (24, 48)  # where bf16 and torch.compile are timed too
POOL = 2480  # the default pool's size
WARM_UP_STEPS = 5


@dataclass(frozen=True)
class Setting:
    batch: int
    channels_last: bool = False
    precision: str = "fp32"  # or "bf16": the loss under torch.autocast("cpu", torch.bfloat16)
    compiled: bool = False  # the network under torch.compile


def settings() -> list[Setting]:
    plain = [Setting(batch, channels_last) for batch in BATCHES for channels_last in (False, True)]
    accelerated = [Setting(batch, precision="bf16") for batch in ACCELERATED_BATCHES]
    return plain + accelerated + [Setting(batch, compiled=True) for batch in ACCELERATED_BATCHES]


def step_milliseconds(setting: Setting, steps: int, images: torch.Tensor) -> tuple[float, float]:
    """One timing of ``setting``: (milliseconds per timed step, seconds of the warm-up steps before them)."""
    config = VAEConfig()
    torch.manual_seed(0)
    model = ConvVAE(32, config.width, config.latent_dim)
    layout = torch.channels_last if setting.channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    network = torch.compile(model) if setting.compiled else model
    images = images.contiguous(memory_format=layout)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
    batch = setting.batch

    def train(count: int) -> None:
        for _ in range(count):
            rows = torch.randint(0, len(images), (batch,))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=setting.precision == "bf16"):
                loss = vae_loss(network, images[rows], torch.randn(batch, config.latent_dim), config.kl_weight,
                                config.edge_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    start = time.perf_counter()
    train(WARM_UP_STEPS)  # oneDNN builds its kernels on the first calls; torch.compile compiles
    warm_up = time.perf_counter() - start
    start = time.perf_counter()
    train(steps)
    return (time.perf_counter() - start) / steps * 1000, warm_up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--steps", type=int, default=100, help="timed steps per setting and repeat")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = torch.rand(POOL, 3, 32, 32) * 2 - 1
    load_before = [round(x, 2) for x in os.getloadavg()]
    times: dict[Setting, list[tuple[float, float]]] = {}
    for _ in range(3):
        for setting in settings():
            times.setdefault(setting, []).append(step_milliseconds(setting, args.steps, images))
    rows = []
    for setting, repeats in times.items():
        milliseconds = statistics.median(ms for ms, _ in repeats)
        rows.append({**asdict(setting), "ms_per_step": round(milliseconds, 2),
                     "ms_per_image": round(milliseconds / setting.batch, 3),
                     "repeats_ms": [round(ms, 2) for ms, _ in repeats],
                     "first_steps_seconds": [round(seconds, 2) for _, seconds in repeats]})
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "command": "python benchmarks/vae_step_cost.py "
              + " ".join(sys.argv[1:]), "threads": args.threads, "steps": args.steps,
              "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__,
                          "python": platform.python_version()},
              "load_average_before": load_before, "load_average_after": [round(x, 2) for x in os.getloadavg()],
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| batch | channels_last | precision | compiled | ms per step | ms per image | first steps (s) |\n"
          "|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['batch']} | {row['channels_last']} | {row['precision']} | {row['compiled']} | "
              f"{row['ms_per_step']:.1f} | {row['ms_per_image']:.2f} | {row['first_steps_seconds'][0]:.1f} |")
    print(f"{args.threads} threads, load average {load_before} -> {result['load_average_after']}; "
          f"written to {args.out}")


if __name__ == "__main__":
    main()
