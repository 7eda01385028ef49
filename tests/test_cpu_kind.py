"""A run records the kind of CPU its numbers came from, and a resume on another kind says so."""

from __future__ import annotations

import json

import torch

from imagelab.cli import main
from imagelab.runtime.cpu_kind import cpu_kind, cpu_model, describe_cpu


def test_the_model_name_comes_from_cpuinfo_and_without_it_from_the_platform(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B45\nflags\t: avx2\n")
    assert cpu_model(cpuinfo) == "AMD EPYC 9B45"
    fallback = cpu_model(tmp_path / "absent")
    assert isinstance(fallback, str) and fallback and fallback != "AMD EPYC 9B45"


def test_the_kind_holds_torchs_kernel_instruction_set():
    kind = cpu_kind()
    assert kind["capability"] == torch.backends.cpu.get_cpu_capability()
    assert describe_cpu(kind) == f"{kind['model']} ({kind['capability']})"


def test_a_run_records_its_cpu_and_a_resume_on_another_kind_says_so(tiny_overrides, tmp_path):
    out = tmp_path / "run"
    overrides = [*(o for o in tiny_overrides if not o.startswith("generator.")), "generator.name=resample",
                 "loop.generations=0"]
    assert main(["run", "--out", str(out), *overrides]) == 0
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["cpu"] == cpu_kind()
    assert "earlier stages ran on" not in (out / "log.txt").read_text()
    # As if the folder had been made on another machine and copied here to be resumed.
    manifest["cpu"] = {"model": "Some Other CPU", "capability": "DEFAULT"}
    manifest_path.write_text(json.dumps(manifest))
    assert main(["run", "--out", str(out), *overrides]) == 0
    assert json.loads(manifest_path.read_text())["cpu"] == cpu_kind()
    log = (out / "log.txt").read_text()
    assert f"earlier stages ran on Some Other CPU (DEFAULT), this session runs on {describe_cpu(cpu_kind())}" in log
