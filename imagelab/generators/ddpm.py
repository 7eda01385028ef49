"""A denoising diffusion model that builds its own UNet: diffusers ``UNet2DModel`` + ``DDPMScheduler``.

The UNet's size (channels per level, blocks, attention) and the noise schedule
(betas, timesteps, what the model predicts) come from the config; training, EMA
weights and sampling are those of every diffusion generator (``diffusion.py``: the
DDPM recipe of Ho et al. 2020, the velocity target of Salimans & Ho 2022, DDIM and
DPM-Solver++ samplers). The defaults are a CPU size: 16-32 px, about 1 M parameters.

diffusers is imported only when a model is built: importing it takes seconds, and a
run with another generator never needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from imagelab.errors import ConfigError
from imagelab.generators.base import GENERATORS, DataSpec
from imagelab.generators.diffusion import DiffusionConfig, DiffusionGenerator

PREDICTIONS = ("epsilon", "v_prediction")
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")


@dataclass
class DDPMConfig(DiffusionConfig):
    """Settings of the ``ddpm`` generator; the defaults are a CPU size (16-32 px, ~1 M parameters)."""

    name: str = "ddpm"
    # UNet: level i has base_channels * channel_mult[i] channels; len(channel_mult) - 1 downsamplings.
    # A multiple of 4: group norm uses base_channels / 4 groups.
    base_channels: int = field(default=32, metadata={"min": 4})
    channel_mult: list[int] = field(default_factory=lambda: [1, 2, 2])
    layers_per_block: int = field(default=1, metadata={"min": 1})
    attention: bool = False  # self-attention at the lowest resolution and in the middle block
    prediction: str = field(default="epsilon", metadata={"choices": PREDICTIONS})
    beta_schedule: str = field(default="squaredcos_cap_v2", metadata={"choices": BETA_SCHEDULES})
    train_timesteps: int = field(default=1000, metadata={"min": 2})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.base_channels % 4:
            raise ConfigError("generator.base_channels", f"must be a multiple of 4, got {self.base_channels}")
        if not self.channel_mult or any(m < 1 for m in self.channel_mult):
            raise ConfigError("generator.channel_mult",
                              f"must list one multiplier >= 1 per level, got {self.channel_mult}")
        if self.sampler == "ddpm" and self.sampling_steps > self.train_timesteps:
            raise ConfigError("generator.sampling_steps", f"the ddpm sampler takes at most train_timesteps "
                              f"({self.train_timesteps}) steps, got {self.sampling_steps}")


def build_unet(config: DDPMConfig, resolution: int, num_class_embeds: int | None = None) -> Any:
    """A diffusers ``UNet2DModel`` for (B, 3, resolution, resolution) images in [-1, 1]."""
    from diffusers import UNet2DModel

    _check_levels(config.channel_mult, resolution)
    levels = len(config.channel_mult)
    down = ["DownBlock2D"] * levels
    up = ["UpBlock2D"] * levels
    if config.attention:
        down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
    return UNet2DModel(
        sample_size=resolution,
        block_out_channels=tuple(config.base_channels * m for m in config.channel_mult),
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        layers_per_block=config.layers_per_block,
        norm_num_groups=config.base_channels // 4,
        add_attention=config.attention,
        num_class_embeds=num_class_embeds,
    )


def _check_levels(channel_mult: list[int], resolution: int) -> None:
    levels = len(channel_mult)
    if resolution % 2 ** (levels - 1):
        raise ConfigError("generator.channel_mult", f"{levels} levels halve the image {levels - 1} times; "
                          f"{resolution} px is not divisible by {2 ** (levels - 1)}")


def build_training_scheduler(config: DDPMConfig) -> Any:
    """The forward (noising) process; sampling schedulers are built from its config."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=config.train_timesteps, beta_schedule=config.beta_schedule,
                         prediction_type=config.prediction, clip_sample=False)


@GENERATORS.register("ddpm")
class DDPM(DiffusionGenerator):
    """Denoising diffusion model (diffusers UNet2DModel + DDPMScheduler, EMA weights, DDIM/DPM-Solver++)."""

    Config = DDPMConfig
    config: DDPMConfig

    def __init__(self, config: DDPMConfig, data: DataSpec, device: torch.device) -> None:
        super().__init__(config, data, device)
        self.check_data(config, data.resolution)

    @classmethod
    def check_data(cls, config: DDPMConfig, resolution: int) -> None:
        """Each level halves the image: the resolution must be divisible by 2 ** (levels - 1)."""
        _check_levels(config.channel_mult, resolution)

    def _num_class_embeds(self) -> int | None:
        """Rows of the UNet's class embedding; None: unconditional (ddpm-cond has one per breed, plus one)."""
        return None

    def _build_unet(self) -> Any:
        return build_unet(self.config, self.data.resolution, self._num_class_embeds())

    def _training_scheduler(self) -> Any:
        return build_training_scheduler(self.config)
