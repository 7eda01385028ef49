"""A user's own diffusers pipeline folder in the loop: load its UNet, fine-tune it, sample it.

``generator.path`` names a local folder written by a diffusers pipeline's
``save_pretrained`` (for example ``DDPMPipeline``), trained or downloaded elsewhere:

    my-pipeline/
      model_index.json
      unet/       config.json + diffusion_pytorch_model.safetensors   (a UNet2DModel)
      scheduler/  scheduler_config.json                              (its noise schedule)

Generation 1 fine-tunes the folder's weights on the real pool; later generations
fine-tune the previous generation's weights when ``loop.warm_start`` is true, or the
folder's weights again otherwise. The noise schedule (timesteps, betas, prediction
type) is the folder's; training, EMA and sampling are those of every diffusion
generator (``diffusion.py``, as for ``ddpm``). Nothing is downloaded: a missing or
unusable folder, a Hub id in place of a folder, or a UNet built for another image size
stops the run before it starts (the size through ``check_data``, which the lab calls
with ``data.resolution`` before writing anything). The path is stored absolute, and the
folder must stay in place: a saved generation keeps only its weights and reads the
architecture from it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from imagelab.errors import ConfigError
from imagelab.generators.base import GENERATORS, DataSpec
from imagelab.generators.diffusion import DiffusionConfig, DiffusionGenerator

UNET_DIR, SCHEDULER_DIR = "unet", "scheduler"
UNET_CONFIG, SCHEDULER_CONFIG = "config.json", "scheduler_config.json"
# What a Hugging Face Hub repository id looks like ("google/ddpm-cifar10-32"): one slash, no leading dot or tilde.
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


@dataclass
class DiffusersPipelineConfig(DiffusionConfig):
    """Settings of the ``diffusers-pipeline`` generator: the folder, and fine-tuning as in ``ddpm``."""

    name: str = "diffusers-pipeline"
    path: str | None = None  # a local folder saved by a diffusers pipeline's save_pretrained
    epochs: int = field(default=5, metadata={"min": 1})
    lr: float = field(default=1e-4, metadata={"min": 0.0})  # fine-tuning: well below a from-scratch rate

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.path is None:
            raise ConfigError("generator.path", "the diffusers-pipeline generator needs the folder of a "
                              "saved diffusers pipeline (with unet/ and scheduler/), "
                              "e.g. generator.path=my-pipeline")
        # Stored absolute (config.yaml, each generation's config.json): a resume or a reload from another
        # working directory must find the same folder.
        given, self.path = self.path, os.path.abspath(os.path.expanduser(self.path))
        folder = Path(self.path)
        if not folder.exists():
            raise ConfigError("generator.path", _missing_folder_message(given, folder))
        for part, file in ((UNET_DIR, UNET_CONFIG), (SCHEDULER_DIR, SCHEDULER_CONFIG)):
            if not (folder / part / file).is_file():
                raise ConfigError("generator.path", f"'{self.path}' is not a saved diffusers pipeline: "
                                  f"{part}/{file} is missing (write one with pipeline.save_pretrained)")


def _missing_folder_message(given: str, folder: Path) -> str:
    """Why ``given`` is refused: no such folder, and for something shaped like ``owner/name``, how to get it."""
    if HUB_ID.fullmatch(given):
        return (f"'{given}' is not a local folder ({folder} does not exist); it looks like a Hugging Face Hub "
                f"id, but imagelab loads local folders only. On a connected machine, download it with "
                f"`huggingface-cli download {given} --local-dir DIR` or `python -c \"from diffusers import "
                f"DDPMPipeline; DDPMPipeline.from_pretrained('{given}').save_pretrained('DIR')\"`, "
                f"then set generator.path=DIR")
    return f"the folder {folder} does not exist (generator.path={given}); give the folder of a saved pipeline"


@GENERATORS.register("diffusers-pipeline")
class DiffusersPipeline(DiffusionGenerator):
    """A local diffusers pipeline folder (generator.path) whose UNet2DModel is fine-tuned and sampled."""

    Config = DiffusersPipelineConfig
    config: DiffusersPipelineConfig

    def __init__(self, config: DiffusersPipelineConfig, data: DataSpec, device: torch.device) -> None:
        super().__init__(config, data, device)
        # The architecture comes from the folder, not from the config.
        self.folder = Path(config.path)
        self.check_data(config, data.resolution)

    @classmethod
    def check_data(cls, config: DiffusersPipelineConfig, resolution: int) -> None:
        """The folder's unet must be an unconditional RGB UNet2DModel built for ``resolution`` px images."""
        path = Path(config.path) / UNET_DIR / UNET_CONFIG
        unet = _read_json(path)
        where = f"generator.path ({path})"
        if unet.get("_class_name") != "UNet2DModel":
            raise ConfigError(where, f"the pipeline's unet is a {unet.get('_class_name')}; "
                                     "only UNet2DModel is supported")
        if unet.get("in_channels") != 3 or unet.get("out_channels") != 3:
            raise ConfigError(where, f"the unet maps {unet.get('in_channels')}-channel images to "
                                     f"{unet.get('out_channels')} channels; it must map 3-channel (RGB) "
                                     "images to 3 channels")
        if unet.get("num_class_embeds") or unet.get("class_embed_type"):
            raise ConfigError(where, "class-conditional unets are not supported; "
                                     "use generator.name=ddpm-cond")
        size = unet.get("sample_size")
        if size not in (None, resolution) and size != [resolution] * 2:
            raise ConfigError(where, f"the unet was built for {size} px images, the data is {resolution} px; "
                                     f"set data.resolution={size}")

    def _build_unet(self) -> Any:
        from diffusers import UNet2DModel

        # The folder's weights: fine-tuning starts from them (local files only; nothing is downloaded).
        return UNet2DModel.from_pretrained(self.folder, subfolder=UNET_DIR, local_files_only=True,
                                           low_cpu_mem_usage=False)

    def _training_scheduler(self) -> Any:
        from diffusers import DDPMScheduler

        schedule = _read_json(self.folder / SCHEDULER_DIR / SCHEDULER_CONFIG)
        if schedule.get("prediction_type", "epsilon") not in ("epsilon", "v_prediction", "sample"):
            raise ConfigError("generator.path", f"unsupported prediction_type "
                              f"{schedule['prediction_type']!r} in {SCHEDULER_DIR}/{SCHEDULER_CONFIG}")
        # Whatever scheduler the pipeline saved, its schedule keys (betas, timesteps, prediction) define
        # training.
        return DDPMScheduler.from_config(schedule)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError("generator.path", f"cannot read {path}: {error}") from None
