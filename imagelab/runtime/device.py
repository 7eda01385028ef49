"""Pick the torch device a run asks for: auto prefers cuda, then mps, then cpu."""

from __future__ import annotations

import os

import torch

from imagelab.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise ConfigError("device", f"'{name}' is not available on this machine; use device=auto or device=cpu")
    return torch.device(name)


def prefer_determinism(device: torch.device) -> None:
    """Ask CUDA for repeatable kernels, so the same config and seed give the same metrics on the same GPU.

    cuDNN's autotuner and some atomics-based kernels vary from run to run; deterministic
    algorithms cost a little speed. Ops without a deterministic CUDA kernel only warn
    (once, naming the op) rather than stop the run. Nothing to do on the CPU, which is
    deterministic for a given thread count.
    """
    if device.type != "cuda":
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts, i.e. before any GPU work
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
