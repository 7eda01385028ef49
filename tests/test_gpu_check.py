"""benchmarks/gpu_check.py: it refuses to run without a GPU, and its reduced presets are valid configs.

Its dry run on a CPU (``--allow-cpu --tiny``) takes minutes on 2 cores, so it is run by hand
(docs/speed.md), not here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from imagelab.config import load_config

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import gpu_check  # noqa: E402 - a script next to the package, importable once its folder is on the path


def test_without_a_gpu_it_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no GPU visible, even on a machine that has one
    finished = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_check.py"), "--out", str(out)], env=env,
                              capture_output=True, text=True, timeout=120)
    assert finished.returncode == 2
    assert "no CUDA GPU is visible" in finished.stderr and "--allow-cpu" in finished.stderr
    assert not out.exists()


@pytest.mark.parametrize("tiny", [False, True])
def test_every_gpu_preset_has_a_reduced_size_that_parses(tiny):
    assert gpu_check.PRESETS and {p.stem for p in gpu_check.PRESETS} == set(gpu_check.REDUCED)
    args = argparse.Namespace(tiny=tiny)
    for preset in gpu_check.PRESETS:
        overrides = gpu_check.overrides_for(preset, args, torch.device("cpu"))
        config = load_config(str(preset), overrides)
        assert config.loop.generations == 2 and config.device == "cpu"
