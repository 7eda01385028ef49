"""A fitted diffusion generator as a diffusers pipeline folder, loadable without imagelab.

    DIR/
      model_index.json
      unet/       config.json + diffusion_pytorch_model.safetensors   (the UNet2DModel, EMA weights)
      scheduler/  scheduler_config.json                              (a DDPMScheduler: the noise schedule)
      imagelab_export.json                                           (where it came from; breeds)

The folder is written by diffusers' own ``DDPMPipeline.save_pretrained``, from the
weights the generator samples with (the EMA average for every diffusion generator) and
the noise schedule it was trained for, so ``DDPMPipeline.from_pretrained(DIR)`` samples
it. The scheduler is the ancestral ``DDPMScheduler`` with the generator's
``clip_sample``; imagelab itself samples with ``generator.sampler`` (DDIM by default),
which diffusers builds from the same config: ``DDIMScheduler.from_config(pipeline.scheduler.config)``.

A class-conditional ``ddpm-cond`` UNet is exported the same way, but ``DDPMPipeline``
does not pass class labels: load it with ``UNet2DModel.from_pretrained(DIR, subfolder="unet")``
and the scheduler, and call the UNet with ``class_labels`` (0..k-1 the breeds listed in
``imagelab_export.json``, k "no label"). Only diffusion generators (built on
``DiffusionGenerator``) have a UNet to export.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from imagelab.errors import UserError
from imagelab.generators.base import Generator
from imagelab.generators.diffusion import DiffusionGenerator
from imagelab.generators.samplers import SAMPLERS
from imagelab.runs.atomic import atomic_directory

EXPORT_INFO_FILE = "imagelab_export.json"
EXPORTABLE = ("ddpm", "ddpm-cond", "diffusers-pipeline")  # the built-in diffusion generators


def export_diffusers_pipeline(generator: Generator, out: Path, about: dict[str, Any] | None = None) -> Path:
    """Write ``generator``'s UNet and noise schedule to ``out`` as a ``DDPMPipeline`` folder; returns ``out``.

    ``out`` must not exist or be empty (UserError otherwise); it appears complete or not
    at all. ``about`` (e.g. the run and generation) is written to ``imagelab_export.json``
    with the generator's config.
    """
    from diffusers import DDPMPipeline

    if not isinstance(generator, DiffusionGenerator):
        raise UserError(f"the {generator.config.name} generator cannot be exported as a diffusers pipeline: "
                        f"it has no diffusers UNet; the diffusion generators can ({', '.join(EXPORTABLE)})")
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists and is not an empty folder; export to a new or empty folder")
    unet, training_scheduler = generator.pipeline_parts()
    # The ancestral sampler on the training schedule, clipped as the generator clips its samples.
    scheduler = SAMPLERS.get("ddpm")(training_scheduler.config, generator.config.clip_sample)
    pipeline = DDPMPipeline(unet=_plain_copy(unet, generator.data.resolution), scheduler=scheduler)
    with atomic_directory(out) as temp:
        pipeline.save_pretrained(temp)
        info = {**(about or {}), "generator": asdict(generator.config), "resolution": generator.data.resolution,
                "num_classes": generator.data.num_classes}
        if pipeline.unet.config.num_class_embeds is not None:
            info["null_class_label"] = generator.data.num_classes  # class_labels 0..k-1 are the breeds
        (temp / EXPORT_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return out


def _plain_copy(unet: Any, resolution: int) -> Any:
    """``unet`` on the CPU in contiguous memory (the generator's may be on a GPU, in channels_last)."""
    copy = type(unet).from_config(unet.config)
    copy.load_state_dict({name: tensor.detach().to("cpu").contiguous() for name, tensor in unet.state_dict().items()})
    if copy.config.sample_size is None:  # DDPMPipeline reads the image size from the UNet's config
        copy.register_to_config(sample_size=resolution)
    return copy.eval()
