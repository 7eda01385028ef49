"""Device choice and the determinism settings a CUDA run gets."""

import os

import pytest
import torch

from imagelab.errors import ConfigError
from imagelab.runtime.device import prefer_determinism, resolve_device


def test_auto_picks_an_available_device_and_an_absent_one_is_refused():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cuda", "mps", "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device: 'cuda' is not available"):
            resolve_device("cuda")


def test_a_cuda_run_asks_for_deterministic_kernels_and_a_cpu_run_changes_nothing(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    try:
        prefer_determinism(torch.device("cpu"))
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
        assert torch.are_deterministic_algorithms_enabled() == before[0]
        prefer_determinism(torch.device("cuda"))  # sets flags only; needs no GPU
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.benchmark = before[1]
