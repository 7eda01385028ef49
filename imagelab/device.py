"""Pick the torch device a run asks for: auto prefers cuda, then mps, then cpu."""

from __future__ import annotations

import torch

from imagelab.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise ConfigError("device", f"'{name}' is not available on this machine; use device=auto or device=cpu")
    return torch.device(name)
