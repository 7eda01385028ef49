"""Health checks end to end: too little disk, a device out of memory, a run folder that cannot be written."""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from imagelab.cli import main
from imagelab.config import load_config
from imagelab.errors import DeviceOutOfMemoryError
from imagelab.generators.vae import VAE
from imagelab.loop import health
from imagelab.loop.collapse import CollapseLoop

NOBODY = 65534  # an unprivileged uid and gid: the tests run as root, whom permissions do not stop


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mode, to show that nothing on disk changed."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mode) for p in folder.rglob("*") if p.is_file()}


def stages(run: Path, generation: int) -> set[str]:
    manifest = json.loads((run / "manifest.json").read_text())
    return set(manifest["generations"].get(str(generation), {}).get("stages", {}))


def status(run: Path) -> str:
    return json.loads((run / "manifest.json").read_text())["status"]


# --- disk space --------------------------------------------------------------------------------


def test_too_little_disk_stops_before_sampling_and_the_run_resumes_later(tmp_path, tiny_overrides, monkeypatch, capsys):
    real_disk_usage = shutil.disk_usage
    monkeypatch.setattr(health.shutil, "disk_usage", lambda path: real_disk_usage(path)._replace(free=5 * 2**20))
    run = tmp_path / "full-disk"
    assert main(["run", "--out", str(run), *tiny_overrides]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress lines
    assert error.startswith("imagelab: error: generation 1 needs about ")
    assert f"in {run} for its samples" in error and "but only 5.0 MiB is free" in error
    assert "choose another --out, or lower loop.samples_per_generation (now 85)" in error  # the real pool's size
    # Generation 0 and generation 1's generator are intact; nothing of generation 1's samples was written.
    assert (run / "gen_000" / "metrics.json").exists() and stages(run, 1) == {"fit"}
    assert not list((run / "gen_001").glob("*samples*")) and status(run).startswith("failed: generation 1 needs")

    monkeypatch.undo()
    assert main(["run", "--out", str(run), *tiny_overrides]) == 0
    assert status(run) == "complete"
    reference = tmp_path / "uninterrupted"
    assert main(["run", "--out", str(reference), *tiny_overrides]) == 0
    assert (run / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()


def test_the_disk_estimate_covers_what_a_generation_writes(tmp_path, tiny_overrides, monkeypatch):
    needed = {}

    def recording(root, generation, estimate, count):
        needed[generation] = estimate
        health.require_free_space(root, generation, estimate, count)

    monkeypatch.setattr("imagelab.loop.collapse.require_free_space", recording)
    run = tmp_path / "run"
    assert main(["run", "--out", str(run), *tiny_overrides, "eval.grid_samples=64"]) == 0
    assert set(needed) == {1, 2}
    for generation, estimate in needed.items():
        folder = run / f"gen_{generation:03d}"
        written = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())  # generator/ comes before
        assert written <= estimate - health.HEADROOM_BYTES < 20 * written  # generous, not absurd


# --- out of memory ---------------------------------------------------------------------------


def _runs_out_while_judging(monkeypatch, error):
    judge_generation = CollapseLoop._judge

    def judge(loop, generation, images):
        if generation == 1:
            monkeypatch.setattr(loop.judge, "judge", lambda *args, **kwargs: (_ for _ in ()).throw(error))
        return judge_generation(loop, generation, images)

    monkeypatch.setattr(CollapseLoop, "_judge", judge)


def _raising(error):
    def method(*args, **kwargs):
        raise error
    return method


@pytest.mark.parametrize("stage, error, advice", [
    ("fit", RuntimeError("[enforce fail at alloc_cpu.cpp:117] . DefaultCPUAllocator: can't allocate memory: "
                         "you tried to allocate 9437184000 bytes"), "lower generator.batch_size (now 24)"),
    ("sample", torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
     "lower loop.samples_per_generation (now the real pool size)"),
    ("judge", RuntimeError("MPS backend out of memory"), "lower the judge's size (judge.model, now "),
])
def test_out_of_memory_in_a_stage_stops_with_one_line_naming_the_setting(
        stage, error, advice, tmp_path, tiny_overrides, monkeypatch, capsys):
    if stage == "judge":
        _runs_out_while_judging(monkeypatch, error)
    else:
        # what the loop calls
        monkeypatch.setattr(VAE, {"fit": "fit", "sample": "sample_range"}[stage], _raising(error))
    run = tmp_path / "oom"
    assert main(["run", "--out", str(run), *tiny_overrides]) == 1
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith(f"imagelab: stopped: generation 1, stage {stage}: cpu ran out of memory; {advice}")
    assert message.endswith("earlier generations are intact in the run folder")
    assert status(run).startswith(f"failed: generation 1, stage {stage}: cpu ran out of memory")
    assert stage not in stages(run, 1) and stages(run, 0) == {"judge", "metrics"}
    assert (run / "gen_000" / "metrics.json").exists()


def test_the_advice_names_each_generators_own_setting_and_the_cpu_on_an_accelerator():
    ddpm = load_config(None, ["generator.name=ddpm"])
    assert health.settings_to_lower("fit", ddpm) == ["generator.batch_size (now 32)"]
    assert health.settings_to_lower("sample", ddpm) == ["generator.sample_batch_size (now 256)"]
    gmm = load_config(None, ["generator.name=gmm", "loop.samples_per_generation=500"])
    assert health.settings_to_lower("sample", gmm) == ["loop.samples_per_generation (now 500)"]
    assert health.settings_to_lower("metrics", gmm) == ["loop.samples_per_generation (now 500)"]
    with pytest.raises(DeviceOutOfMemoryError, match=r"stage sample: cuda:0 ran out of memory; lower generator\."
                                                     r"sample_batch_size \(now 256\), "
                                                     r"or run on the CPU \(device=cpu\)$"):
        with health.out_of_memory_named(3, "sample", torch.device("cuda", 0), ddpm):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")


def test_other_errors_pass_through_unchanged():
    config = load_config(None, [])
    with pytest.raises(RuntimeError, match="^mat1 and mat2 shapes cannot be multiplied$"):
        with health.out_of_memory_named(1, "fit", torch.device("cpu"), config):
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")


# --- an unwritable run folder ----------------------------------------------------------------


@pytest.fixture
def shared_tmp():
    """A folder an unprivileged user can reach (pytest's own temporary folders are root's alone)."""
    if os.geteuid() != 0:
        pytest.skip("acting as another user needs root")
    folder = Path(tempfile.mkdtemp(prefix="imagelab-test-"))
    folder.chmod(0o755)
    if not all(parent.stat().st_mode & 0o001 for parent in folder.parents):
        shutil.rmtree(folder)
        pytest.skip(f"{folder.parent} cannot be entered by other users; set TMPDIR=/tmp")
    yield folder
    shutil.rmtree(folder)


def _run_as_nobody(argv: list[str]) -> tuple[int, str]:
    """`imagelab ARGV` in a forked child that dropped root; its exit status and stderr."""
    receive, send = multiprocessing.get_context("fork").Pipe(duplex=False)

    def child():
        torch.set_num_threads(1)
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            code = main(argv)
        send.send((code, stderr.getvalue()))

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(timeout=120)
    assert process.exitcode == 0, f"the child failed (exit code {process.exitcode})"
    return receive.recv()


@pytest.mark.parametrize("unwritable", [".", "gen_001"])
def test_an_unwritable_run_folder_is_refused_and_nothing_changes(unwritable, shared_tmp, tiny_overrides, monkeypatch):
    # A half-finished run: stopped before generation 1's samples (too little disk).
    run = shared_tmp / "half-finished"
    monkeypatch.setattr(health.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 0))
    assert main(["run", "--out", str(run), *tiny_overrides]) == 2
    monkeypatch.undo()
    # It belongs to another user, except the folder that is to be unwritable, which stays root's (mode 755).
    for path in [run, *run.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    os.chown(run / unwritable, 0, 0)

    before = snapshot(run)
    code, error = _run_as_nobody(["run", "--out", str(run), *tiny_overrides])
    assert code == 2 and error.count("\n") == 1
    blocked = (run / unwritable).resolve()
    assert error.startswith(f"imagelab: error: {blocked} is not writable, so this run cannot be written or resumed")
    assert "or choose another --out" in error
    assert snapshot(run) == before


def test_a_new_run_folder_in_an_unwritable_place_is_refused(shared_tmp, tiny_overrides):
    code, error = _run_as_nobody(["run", "--out", str(shared_tmp / "new"), *tiny_overrides])
    assert code == 2 and error.count("\n") == 1
    assert error.startswith(f"imagelab: error: cannot write the run folder {shared_tmp / 'new'}: Permission denied")
    assert "choose another --out" in error
    assert list(shared_tmp.iterdir()) == []
