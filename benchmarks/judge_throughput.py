"""Judge and FID throughput: what measuring one generation costs, per judge model and image size.

    python benchmarks/judge_throughput.py [--device cpu] [--samples 2480] [--repeats 3]
                                          [--out benchmarks/results/judge_throughput_cpu.json]

For each (judge model, resolution) it times the judge's one forward pass over
``--samples`` uint8 images (labels, confidences and the FID features together,
``Judge.judge``), and torchmetrics' FID on those features against a reference set
of the same size (``FeatureFID``: the reference statistics once, then one
generation). The judge's weights are untrained (timm's initialisation): speed
depends on the architecture and the sizes, not on what the network learned.
Medians of ``--repeats`` timings, after one warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import timm
import torch
from measuring import block_seconds, cpu_name

from imagelab.config import JudgeConfig
from imagelab.data.toydog_breeds import BREEDS
from imagelab.judge.model import Judge
from imagelab.metrics.fid import FeatureFID

SETTINGS = [("test_resnet", 32), ("resnet18", 64)]  # the default lab's judge; the photo presets' judge


def timed(action, repeats: int) -> float:
    return statistics.median(block_seconds(action, repeats))


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def measure(device: torch.device, samples: int, repeats: int) -> list[dict]:
    """One row per (judge model, resolution) of SETTINGS: judge and FID seconds and images per second."""
    breeds = list(BREEDS)[:10]
    rows = []
    for model_name, resolution in SETTINGS:
        torch.manual_seed(0)
        network = timm.create_model(model_name, pretrained=False, num_classes=len(breeds))
        judge = Judge(network, JudgeConfig(model=model_name), breeds, resolution, device)
        images = torch.randint(0, 256, (samples, 3, resolution, resolution), dtype=torch.uint8)
        judge_seconds = timed(lambda: judge.judge(images), repeats)
        features = judge.judge(images).features
        reference = features.roll(1, dims=0) + 0.1 * torch.randn_like(features)
        setup_seconds = timed(lambda: FeatureFID(reference), repeats)
        fid = FeatureFID(reference)
        fid_seconds = timed(lambda: fid(features), repeats)
        rows.append({"judge": model_name, "resolution": resolution, "features": features.shape[1],
                     "parameters": sum(p.numel() for p in network.parameters()),
                     "judge_seconds": round(judge_seconds, 3),
                     "judge_images_per_second": round(samples / judge_seconds),
                     "fid_reference_setup_seconds": round(setup_seconds, 4), "fid_seconds": round(fid_seconds, 4),
                     "judge_and_fid_images_per_second": round(samples / (judge_seconds + fid_seconds))})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--samples", type=int, default=2480, help="images per generation (the default lab's pool size)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "judge_throughput_cpu.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    rows = measure(device, args.samples, args.repeats)
    for row in rows:
        print(f"| {row['judge']} | {row['resolution']} px | {row['judge_images_per_second']:,} | "
              f"{row['fid_seconds']:.3f} s | {row['judge_and_fid_images_per_second']:,} |")
    result = {"date": time.strftime("%Y-%m-%d"), "device": str(device), "machine": machine(device),
              "torch": torch.__version__, "python": platform.python_version(), "samples": args.samples,
              "repeats": args.repeats, "load_average_at_end": [round(x, 2) for x in os.getloadavg()], "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{result['machine']}; written to {args.out}")


if __name__ == "__main__":
    main()
