"""benchmarks/gpu_check.py: it refuses to run without a GPU, its reduced presets are valid configs, and its
dry run on a CPU (``--allow-cpu --tiny``) gets through every part, so the script's own logic is known to
work before the first GPU it meets (under a minute on 2 cores: no part compiles on a CPU).
"""

from __future__ import annotations

import argparse
import json
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


def test_its_dry_run_on_a_cpu_gets_through_every_part_and_says_it_was_no_gpu(tmp_path):
    out, work = tmp_path / "dry_run.json", tmp_path / "work"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    finished = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_check.py"), "--allow-cpu", "--tiny",
                               "--out", str(out), "--work", str(work)], env=env, capture_output=True, text=True,
                              timeout=900)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["dry_run"] is True and result["tiny"] is True and result["machine"]["device"] == "cpu"
    expected = {f"preset:{preset.stem}" for preset in gpu_check.PRESETS} | {"throughput:ddpm", "throughput:judge",
                                                                             "determinism"}
    assert set(result["parts"]) == expected and result["failed"] == []
    for preset in gpu_check.PRESETS:  # two generations, each with its stages timed from the run's manifest
        part = result["parts"][f"preset:{preset.stem}"]
        assert set(part["stages"]) >= {"1", "2"} and part["stages"]["2"]["fit"]["seconds"] > 0
    assert result["parts"]["determinism"]["identical_metrics_csv"] is True
