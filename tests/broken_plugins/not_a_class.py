"""An entry point that names a factory function instead of a generator class."""

import torch

from imagelab.plugin import DataSpec
from tests.broken_plugins.tiny import Tiny, TinyConfig


def make_generator(config: TinyConfig, data: DataSpec, device: torch.device) -> Tiny:
    """Builds a Tiny; the registry needs the class itself (its Config, load, describe)."""
    return Tiny(config, data, device)
