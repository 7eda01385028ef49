"""One check of everything that runs on a GPU: the GPU presets, the throughput benchmarks, determinism.

    python benchmarks/gpu_check.py [--out benchmarks/results/gpu_check.json] [--work DIR]
    python benchmarks/gpu_check.py --allow-cpu --tiny      # a dry run of this script's logic on a CPU

On a machine with a CUDA GPU it runs, one part after another, and writes one JSON:

- ``preset:<name>``: two generations of each ``configs/*gpu*.yaml`` at reduced size (fewer
  epochs and denoiser steps; the data and the networks as in the preset), each an
  ``imagelab run`` in its own process: wall seconds, each stage's seconds and peak GPU
  memory from the run's manifest, what the fit ran with (precision, channels_last,
  compiled), and the last generation's headline metrics;
- ``throughput:ddpm``: ``ddpm_throughput.bench_imagelab`` eager and compiled, in this process;
- ``throughput:judge``: ``judge_throughput.measure`` (judge forward pass and FID);
- ``determinism``: the first preset's reduced run again in a new folder, with the same
  config and seed: its metrics.csv must be byte-identical to the first one's.

Each part is timed and wrapped so that a failure (its traceback) is recorded and the
other parts still run; the script exits 1 if any part failed. The whole check is sized
to stay within 8 minutes on one H200 (``total_seconds`` says how long it took; each run
has a ``--run-timeout``). The inductor cache and the judge cache start empty in the
work folder, so compile and judge-training times are those of a first run.

Without a GPU it exits 2 with a message and writes nothing, unless ``--allow-cpu``:
then the same parts run on the CPU (``--tiny`` makes them small enough for a test), and
the JSON says ``"dry_run": true`` and names the CPU; those numbers are not GPU numbers.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from importlib.metadata import version
from pathlib import Path
from typing import Callable

import torch
from measuring import cpu_name

# The throughput benchmarks (and through them imagelab, diffusers, timm) are imported by the parts that use
# them: without a GPU the script refuses at once, before seconds of imports.

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
PRESETS = sorted(ROOT.glob("configs/*gpu*.yaml"))
NO_GPU = 2  # exit status without a GPU (and without --allow-cpu)

# Per preset, what makes two generations fit the time budget on a GPU: fewer optimiser steps.
REDUCED = {
    "toy-ddpm-gpu": ["generator.epochs=10"],  # 200 steps of batch 128
    "toy-ddpm-gpu64": ["generator.epochs=5"],  # 195 steps of batch 64
    "toy-latent-diffusion-gpu64": ["generator.epochs=3", "generator.denoiser_steps=300"],
}
# --tiny: a few images at 16 px and the smallest networks, for a dry run on a CPU.
TINY_DATA = ["data.resolution=16", "data.breeds=[golden_retriever,dachshund]", "data.imbalance.max_count=30",
             "data.imbalance.ratio=3", "data.judge_train_per_breed=16", "data.eval_per_breed=8", "judge.epochs=1",
             "eval.grid_samples=4", "generator.epochs=1", "generator.batch_size=16"]
TINY_GENERATOR = {
    "ddpm": ["generator.base_channels=8", "generator.channel_mult=[1,2]", "generator.layers_per_block=1",
             "generator.attention=false", "generator.warmup_steps=0", "generator.sampling_steps=2",
             "generator.sample_batch_size=16"],
    "latent-diffusion": ["generator.latent_dim=4", "generator.width=4", "generator.denoiser_width=8",
                         "generator.denoiser_blocks=1", "generator.denoiser_steps=2",
                         "generator.denoiser_batch_size=16", "generator.sampling_steps=2"],
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None,
                        help="the JSON (default: results/gpu_check.json; results/gpu_check_cpu_dry_run.json "
                             "for a run on the CPU)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the runs and caches (default: temporary)")
    parser.add_argument("--allow-cpu", action="store_true", help="run on the CPU when there is no GPU (a dry run)")
    parser.add_argument("--tiny", action="store_true", help="tiny data and networks: checks the script, not speed")
    parser.add_argument("--run-timeout", type=int, default=150, help="seconds allowed to each imagelab run")
    return parser.parse_args()


def machine(device: torch.device) -> dict:
    """The device, the software versions and the CPU."""
    info = {"device": str(device), "cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            **{name: version(name) for name in ("imagelab", "diffusers", "timm", "torchmetrics")}}
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        info |= {"gpu": properties.name, "gpu_memory_mib": properties.total_memory // 2**20,
                 "compute_capability": f"{properties.major}.{properties.minor}"}
    return info


def run_part(results: dict, name: str, action: Callable[[], dict], device: torch.device) -> None:
    """``results["parts"][name]``: what ``action()`` returned, its seconds and peak GPU memory, or its traceback."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    try:
        part = {"ok": True, **action()}
    except Exception:  # noqa: BLE001 - recorded, and the next part still runs
        part = {"ok": False, "error": traceback.format_exc()}
    part["seconds"] = round(time.perf_counter() - start, 1)
    if device.type == "cuda":  # this process's own peak; the runs' peaks are in their manifests
        part["peak_gpu_mib_in_this_process"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
    results["parts"][name] = part
    print(f"gpu_check: {name}: {'ok' if part['ok'] else 'FAILED'} in {part['seconds']} s", flush=True)


def overrides_for(preset: Path, args: argparse.Namespace, device: torch.device) -> list[str]:
    """The reduced preset: two generations, fewer steps (or, --tiny, tiny everything), on ``device``."""
    overrides = ["loop.generations=2", f"device={device.type}"]
    if args.tiny:
        generator = "latent-diffusion" if "latent" in preset.stem else "ddpm"
        return overrides + TINY_DATA + TINY_GENERATOR[generator]
    return overrides + REDUCED.get(preset.stem, [])


def imagelab_run(preset: Path, out: Path, overrides: list[str], env: dict, timeout: int) -> dict:
    """``imagelab run PRESET --out OUT OVERRIDES`` in its own process; wall time and what its manifest says."""
    command = [sys.executable, "-m", "imagelab", "run", str(preset), "--out", str(out), *overrides]
    start = time.perf_counter()
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    if finished.returncode != 0:
        raise RuntimeError(f"exit status {finished.returncode}; its stderr ends:\n{finished.stderr[-4000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    stages = {generation: {name: {k: v for k, v in info.items() if k in ("seconds", "peak_gpu_mib", "runtime")}
                           for name, info in record.get("stages", {}).items()}
              for generation, record in manifest["generations"].items()}
    with open(out / "metrics.csv") as handle:
        last = list(csv.DictReader(handle))[-1]
    headline = {key: float(last[key]) for key in ("fid", "share_unrecognized", "tv_to_real", "breeds_alive")}
    return {"overrides": overrides, "wall_seconds": round(seconds, 1), "setup": manifest.get("setup", {}),
            "stages": stages, "last_generation": headline}


def throughput_ddpm(args: argparse.Namespace, device: torch.device) -> dict:
    """imagelab ``ddpm``'s training and sampling images per second, eager and under torch.compile."""
    from ddpm_throughput import bench_imagelab, toy_pool

    sizes = dict(resolution=16, batch_size=8, train_steps=2, sample_images=4, sampling_steps=2, repeats=1,
                 imagelab_channels=8) if args.tiny else \
        dict(resolution=32, batch_size=128, train_steps=20, sample_images=512, sampling_steps=20, repeats=3,
             imagelab_channels=64)
    bench = argparse.Namespace(**sizes)
    pool = toy_pool(bench.batch_size * bench.train_steps, bench.resolution)
    # On a GPU: bf16 and channels_last (auto); compiled or not. On a CPU dry run: float32, eager both times.
    compiled = device.type == "cuda"
    return {"settings": sizes, "eager": bench_imagelab(bench, pool, device, compile=False),
            "compiled": bench_imagelab(bench, pool, device, compile=compiled)}


def throughput_judge(samples: int, repeats: int, device: torch.device) -> dict:
    """The judge's forward pass and FID on its features, per judge model (judge_throughput.py)."""
    from judge_throughput import measure

    return {"samples": samples, "repeats": repeats, "rows": measure(device, samples, repeats)}


def determinism(first: Path, second: Path, preset: Path, overrides: list[str], env: dict, timeout: int) -> dict:
    """The same reduced preset and seed as ``first`` (run now if it is not there), again into ``second``."""
    if not (first / "metrics.csv").is_file():
        imagelab_run(preset, first, overrides, env, timeout)
    again = imagelab_run(preset, second, overrides, env, timeout)
    before, after = (first / "metrics.csv").read_text(), (second / "metrics.csv").read_text()
    differing = [number for number, (a, b) in enumerate(zip(before.splitlines(), after.splitlines())) if a != b]
    if before != after:
        raise AssertionError(f"metrics.csv differs between two runs of {preset.stem} with the same seed "
                             f"(lines {differing}): {first / 'metrics.csv'} vs {second / 'metrics.csv'}")
    return {"preset": preset.stem, "identical_metrics_csv": True, "second_run_seconds": again["wall_seconds"]}


def main() -> int:
    args = parse_args()
    has_gpu = torch.cuda.is_available()
    if not has_gpu and not args.allow_cpu:
        print("gpu_check: no CUDA GPU is visible to torch (torch.cuda.is_available() is False), so nothing was "
              "checked and no JSON was written. Run it on a machine with a GPU, or pass --allow-cpu (with --tiny) "
              "for a dry run of the script on the CPU.", file=sys.stderr)
        return NO_GPU
    device = torch.device("cuda" if has_gpu else "cpu")
    out = args.out or RESULTS / ("gpu_check.json" if has_gpu else "gpu_check_cpu_dry_run.json")
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu_check-"))
    # Fresh caches in the work folder: the first run's compile and judge training are timed as a user meets them.
    env = {**os.environ, "IMAGELAB_CACHE": str(work / "imagelab-cache"), "TQDM_DISABLE": "1",
           "TORCHINDUCTOR_CACHE_DIR": str(work / "inductor-cache")}
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = env["TORCHINDUCTOR_CACHE_DIR"]  # this process's compiles too

    results: dict = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                     "dry_run": not has_gpu, "tiny": args.tiny, "machine": machine(device), "work": str(work),
                     "parts": {}}
    start = time.perf_counter()
    for preset in PRESETS:
        overrides = overrides_for(preset, args, device)
        run_part(results, f"preset:{preset.stem}",
                 lambda: imagelab_run(preset, work / preset.stem, overrides, env, args.run_timeout), device)
    run_part(results, "throughput:ddpm", lambda: throughput_ddpm(args, device), device)
    samples, repeats = (16, 1) if args.tiny else (2480, 3)
    run_part(results, "throughput:judge", lambda: throughput_judge(samples, repeats, device), device)
    first = PRESETS[0]
    run_part(results, "determinism", lambda: determinism(work / first.stem, work / f"{first.stem}-again", first,
                                                         overrides_for(first, args, device), env,
                                                         args.run_timeout), device)
    results["total_seconds"] = round(time.perf_counter() - start, 1)
    results["within_8_minutes"] = results["total_seconds"] <= 480
    results["peak_rss_mib_this_process"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    results["failed"] = [name for name, part in results["parts"].items() if not part["ok"]]

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"gpu_check: {len(results['parts'])} parts, failed: {results['failed'] or 'none'}; "
          f"{results['total_seconds']} s; written to {out}")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
