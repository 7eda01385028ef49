"""How a torch generator's network runs on its device: numeric precision, memory layout, compilation.

The torch generators (vae, ddpm, ddpm-cond, diffusers-pipeline, latent-diffusion) share
three settings, each a ``generator.*`` key:

- ``precision``: ``fp32``, or ``bf16`` (the network's forward passes under
  ``torch.autocast`` with bfloat16; weights, optimiser state and the loss stay float32);
- ``channels_last``: conv weights and image batches in NHWC layout, what cuDNN's fastest
  kernels want (on a CPU it measured ~10% slower for the small nets here);
- ``compile``: the network wrapped in ``torch.compile`` (inductor) for training and sampling;
  the unwrapped module is what is saved.

``auto``, the default of each, is on for CUDA and off on any other device: exactly what the
lab did before these keys existed, so a CPU run's numbers do not change. Set explicitly, each
works on every device torch supports it on, which is how the CPU tests run the CUDA paths.
Nothing falls back quietly: bf16 where torch has no autocast is a ConfigError naming the key,
and a compile that fails raises when the network first runs (the stage fails, exit 1).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import nn

from imagelab.config_fields import bounded, check_bounds
from imagelab.errors import ConfigError
from imagelab.generators.base import GeneratorConfig

AUTO = "auto"
PRECISIONS = (AUTO, "fp32", "bf16")
SWITCH = (AUTO, True, False)  # a setting that is on, off, or on for CUDA only


@dataclass
class AcceleratedConfig(GeneratorConfig):
    """The device settings of every torch generator's config; ``acceleration(device)`` resolves them."""

    precision: str = bounded(AUTO, choices=PRECISIONS)  # auto: bf16 autocast on CUDA, fp32 elsewhere
    channels_last: bool | str = bounded(AUTO, choices=SWITCH)  # auto: on CUDA only
    compile: bool | str = bounded(AUTO, choices=SWITCH)  # torch.compile the network; auto: on CUDA only

    def __post_init__(self) -> None:
        check_bounds(self, "generator.")  # the parser checks YAML; this covers direct construction

    def acceleration(self, device: torch.device) -> Acceleration:
        """What these settings mean on ``device`` (``auto`` resolved); ConfigError if torch cannot do it there."""
        on_cuda = device.type == "cuda"
        bf16 = self.precision == "bf16" or (self.precision == AUTO and on_cuda)
        if bf16 and not torch.amp.is_autocast_available(device.type):
            raise ConfigError("generator.precision", f"bf16 autocast is not available on {device.type} in "
                              f"torch {torch.__version__}; set generator.precision=fp32")
        return Acceleration(
            device=device,
            bf16=bf16,
            channels_last=on_cuda if self.channels_last == AUTO else bool(self.channels_last),
            compile=on_cuda if self.compile == AUTO else bool(self.compile),
        )


@dataclass(frozen=True)
class Acceleration:
    """The resolved settings on one device, and the three operations they switch."""

    device: torch.device
    bf16: bool
    channels_last: bool
    compile: bool

    @property
    def memory_format(self) -> torch.memory_format:
        """The layout of conv weights and image batches (pass to ``.to`` / ``.contiguous``)."""
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self) -> AbstractContextManager:
        """The context forward passes run in: bf16 autocast, or a disabled one (float32)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def compiled(self, module: nn.Module) -> nn.Module:
        """``torch.compile(module)`` when compiling, else ``module``; keep the unwrapped one for saving."""
        return torch.compile(module) if self.compile else module

    def describe(self) -> dict:
        """What ran, for the manifest: {"precision": "bf16"|"fp32", "channels_last": bool, "compiled": bool}."""
        return {"precision": "bf16" if self.bf16 else "fp32", "channels_last": self.channels_last,
                "compiled": self.compile}
