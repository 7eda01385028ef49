"""A run killed with SIGKILL at several points, resumed each time, ends with the metrics of an uninterrupted run.

Each kill happens in a forked copy of this process (torch is already imported, so a
child costs no start-up), which installs a hook that SIGKILLs itself at one exact
point of the run and then calls the CLI. The next child resumes what the last one
left; the test process finishes the run.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from pathlib import Path
from typing import Callable

import pytest
import torch

from imagelab.cli import main
from imagelab.runs.folder import RunFolder

# Three generations with warm start, so generation 2's fit starts from generation 1's weights:
# in memory in an uninterrupted run, loaded from gen_001/generator/ after a resume.
OVERRIDES = ["loop.generations=3", "loop.warm_start=true"]


@pytest.fixture
def one_thread():
    """Every run here uses one thread, like the forked children (results may differ by thread count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def replacing(generation: int, name: str) -> Callable[[str, tuple], bool]:
    """The moment an atomic write is about to rename ``gen_NNN/<name>``'s finished temporary into place."""
    return lambda event, args: (event == "replace" and Path(args[1]).name == name
                                and Path(args[1]).parent.name == f"gen_{generation:03d}")


def marking(generation: int, stage: str) -> Callable[[str, tuple], bool]:
    """The moment the manifest is about to record a stage whose artifacts are already on disk."""
    return lambda event, args: event == "mark" and args[:2] == (generation, stage)


def _killed_run(argv: list[str], point: Callable[[str, tuple], bool]) -> None:
    """In the forked child: SIGKILL this process at ``point``, then run the CLI."""
    torch.set_num_threads(1)
    replace, mark_stage = os.replace, RunFolder.mark_stage

    def kill_if(event: str, args: tuple) -> None:
        if point(event, args):
            os.kill(os.getpid(), signal.SIGKILL)

    def hooked_replace(src, dst, *rest, **options):
        kill_if("replace", (src, dst))
        return replace(src, dst, *rest, **options)

    def hooked_mark_stage(folder, generation, stage, *rest, **info):
        kill_if("mark", (generation, stage))
        return mark_stage(folder, generation, stage, *rest, **info)

    os.replace = hooked_replace
    RunFolder.mark_stage = hooked_mark_stage
    try:
        main(argv)
    finally:
        os._exit(99)  # reached only if the point never came (or the run failed): the parent reports it


def kill_at(argv: list[str], point: Callable[[str, tuple], bool], run: Path) -> dict:
    child = multiprocessing.get_context("fork").Process(target=_killed_run, args=(argv, point))
    child.start()
    child.join(timeout=120)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("the forked run hung")
    assert child.exitcode == -signal.SIGKILL, f"the run was not killed at its point (exit code {child.exitcode})"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "running"  # a SIGKILL leaves no chance to record anything
    return manifest


def stages(manifest: dict, generation: int) -> set[str]:
    return set(manifest["generations"].get(str(generation), {}).get("stages", {}))


def test_a_run_killed_at_several_points_resumes_to_identical_metrics(tmp_path, tiny_overrides, one_thread):
    reference = tmp_path / "uninterrupted"
    assert main(["run", "--out", str(reference), *tiny_overrides, *OVERRIDES]) == 0
    run = tmp_path / "killed"
    argv = ["run", "--out", str(run), *tiny_overrides, *OVERRIDES]

    # 1. Generation 1's generator is saved, but the manifest does not yet say its fit is done.
    manifest = kill_at(argv, marking(1, "fit"), run)
    assert (run / "gen_001" / "generator" / "model.safetensors").exists() and "fit" not in stages(manifest, 1)
    # 2. Generation 2's warm-started fit has written its weights to a temporary folder, not yet renamed.
    manifest = kill_at(argv, replacing(2, "generator"), run)
    assert stages(manifest, 1) == {"fit", "sample", "judge", "metrics"} and not stages(manifest, 2)
    assert list((run / "gen_002").glob(".generator.tmp-*"))  # the half-done write the kill left behind
    # 3. Generation 2's samples are in a temporary file, about to be renamed into place.
    manifest = kill_at(argv, replacing(2, "samples.safetensors"), run)
    assert stages(manifest, 2) == {"fit"} and not (run / "gen_002" / "samples.safetensors").exists()
    assert list((run / "gen_002").glob(".samples.safetensors.tmp-*"))
    # 4. Generation 3 is judged and its metrics computed; its metrics.json is about to be renamed into place.
    manifest = kill_at(argv, replacing(3, "metrics.json"), run)
    assert (stages(manifest, 3) == {"fit", "sample", "judge"}
            and stages(manifest, 2) == {"fit", "sample", "judge", "metrics"})

    assert main(argv) == 0
    assert (run / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()
    for generation in range(4):
        for name in ("samples.safetensors", "judgement.safetensors", "generator/model.safetensors"):
            path = f"gen_{generation:03d}/{name}"
            if generation or not name.startswith("generator"):
                assert (run / path).read_bytes() == (reference / path).read_bytes(), path
    assert json.loads((run / "manifest.json").read_text())["status"] == "complete"
    assert not list(run.rglob(".*.tmp-*"))  # the half-written files of the killed runs are gone
    assert (run / "log.txt").read_text().count("resuming run in") == 4
