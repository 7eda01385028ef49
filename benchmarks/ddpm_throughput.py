"""Training and sampling throughput of the ``ddpm`` generator next to denoising-diffusion-pytorch.

Both sides learn the same toy-dog images at one fixed size with a UNet of about the
same parameter count, in one process, one after the other:

- imagelab ``ddpm``: its own ``fit`` (diffusers UNet2DModel, AdamW, EMA) for a fixed
  number of optimiser steps, and ``sample`` with DDIM;
- denoising-diffusion-pytorch (lucidrains): ``Unet`` + ``GaussianDiffusion``; the
  training step is the one its ``Trainer`` runs (``loss = diffusion(images)``, backward,
  Adam, ``ema_pytorch`` EMA update), called directly because the ``Trainer`` needs a
  folder of image files and accelerate; sampling is its DDIM sampler
  (``sampling_timesteps`` = the same step count).

    pip install denoising-diffusion-pytorch     # for this benchmark only
    python benchmarks/ddpm_throughput.py --out benchmarks/results/ddpm_throughput_cpu.json

Images per second are the median of ``--repeats`` timed blocks, after one untimed warm-up.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
from importlib.metadata import version
from pathlib import Path

import torch
from measuring import block_seconds, cpu_name

from imagelab.data.imageset import ImageSet
from imagelab.data.toydogs import render_dogs
from imagelab.generators import DataSpec
from imagelab.generators.ddpm import DDPM, DDPMConfig


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=8, help="optimiser steps per timed training block")
    parser.add_argument("--sample-images", type=int, default=32)
    parser.add_argument("--sampling-steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: a shared machine)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--imagelab-channels", type=int, default=32, help="ddpm base_channels")
    parser.add_argument("--lucidrains-dim", type=int, default=28, help="denoising-diffusion-pytorch Unet dim")
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args()


def median_rate(images: int, run, repeats: int) -> tuple[float, list[float]]:
    """Images per second of ``run()`` (which processes ``images`` images): median over ``repeats``, after a warm-up."""
    seconds = block_seconds(run, repeats)
    return images / statistics.median(seconds), [round(s, 3) for s in seconds]


def toy_pool(count: int, resolution: int) -> ImageSet:
    """``count`` toy dogs of the ten breeds in turn, at ``resolution`` px."""
    breeds = torch.arange(count) % 10
    return ImageSet.create(render_dogs(breeds, list(range(count)), resolution), breeds)


def bench_imagelab(args, pool: ImageSet, device: torch.device, **settings) -> dict:
    """imagelab ``ddpm`` fit and sampling throughput; ``settings`` are further DDPMConfig fields (e.g. compile)."""
    steps_pool = pool.subset(slice(0, args.batch_size * args.train_steps))
    config = DDPMConfig(base_channels=args.imagelab_channels, channel_mult=[1, 2, 2], epochs=1,
                        batch_size=args.batch_size, warmup_steps=0, sampler="ddim",
                        sampling_steps=args.sampling_steps, sample_batch_size=args.sample_images, **settings)
    generator = DDPM(config, DataSpec(args.resolution, 1), device)
    train_rate, train_s = median_rate(len(steps_pool), lambda: generator.fit(steps_pool, seed=0), args.repeats)
    sample_rate, sample_s = median_rate(args.sample_images, lambda: generator.sample(args.sample_images, seed=0),
                                        args.repeats)
    return {"parameters": generator.parameter_count(), "config": {"base_channels": config.base_channels,
                                                                  "channel_mult": config.channel_mult},
            "train_images_per_s": round(train_rate, 2), "train_block_s": train_s,
            "sample_images_per_s": round(sample_rate, 3), "sample_block_s": sample_s,
            "runtime": generator.runtime_facts(),
            "note": "fit() includes building the UNet, the EMA and moving the pool to the device once per block"}


def bench_lucidrains(args, pool: ImageSet, device: torch.device) -> dict:
    from denoising_diffusion_pytorch import GaussianDiffusion, Unet
    from ema_pytorch import EMA

    torch.manual_seed(0)
    unet = Unet(dim=args.lucidrains_dim, dim_mults=(1, 2, 2), flash_attn=False)
    diffusion = GaussianDiffusion(unet, image_size=args.resolution, timesteps=1000,
                                  sampling_timesteps=args.sampling_steps, objective="pred_noise").to(device)
    optimizer = torch.optim.Adam(diffusion.parameters(), lr=2e-3)
    ema = EMA(diffusion, beta=0.999, update_every=1).to(device)
    images = pool.as_float().add(1).div(2).to(device)  # its auto_normalize expects [0, 1]

    def train_block() -> None:
        for step in range(args.train_steps):
            batch = images[step * args.batch_size:(step + 1) * args.batch_size]
            loss = diffusion(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            ema.update()

    train_rate, train_s = median_rate(args.batch_size * args.train_steps, train_block, args.repeats)
    with torch.no_grad():
        sample_rate, sample_s = median_rate(args.sample_images,
                                            lambda: ema.ema_model.sample(batch_size=args.sample_images), args.repeats)
    return {"parameters": sum(p.numel() for p in unet.parameters()),
            "config": {"dim": args.lucidrains_dim, "dim_mults": [1, 2, 2], "objective": "pred_noise"},
            "train_images_per_s": round(train_rate, 2), "train_block_s": train_s,
            "sample_images_per_s": round(sample_rate, 3), "sample_block_s": sample_s,
            "note": "Trainer's step called directly (no accelerate, no image folder); DDIM sampling"}


def machine() -> dict:
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "threads_used": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "load_average_at_start": os.getloadavg(), "python": platform.python_version(),
            "torch": torch.__version__, "diffusers": version("diffusers"),
            "denoising_diffusion_pytorch": version("denoising-diffusion-pytorch")}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    pool = toy_pool(args.batch_size * args.train_steps, args.resolution)
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "device": str(device),
              "settings": {k: v for k, v in vars(args).items() if k != "out"} | {"data": "toydogs, 10 breeds"}}
    result["imagelab_ddpm"] = bench_imagelab(args, pool, device)
    result["denoising_diffusion_pytorch"] = bench_lucidrains(args, pool, device)
    result["machine"]["load_average_at_end"] = os.getloadavg()
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
