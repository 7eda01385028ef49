"""Runs that share a machine split its cores: the live-run registry and the shared thread count."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from imagelab.cli import main
from imagelab.runtime import machine_runs, threads
from imagelab.runtime.machine_runs import live_runs, registered, registry_folder
from imagelab.runtime.threads import CpuShare, SharedThreads, ThreadChoice, shared

HOST = socket.gethostname()

EIGHT_CORES = CpuShare(affinity=8, physical_cores=8, quota=None)


@pytest.fixture
def other_process():
    """A live process that is not this one: it stands for another imagelab run on the machine."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process.pid
    process.kill()
    process.wait()


pytestmark = pytest.mark.usefixtures("fresh_thread_choice")


def test_the_registry_counts_live_runs_and_forgets_dead_ones(tmp_path, other_process):
    folder = tmp_path / "live"
    assert live_runs(folder) == 0  # no folder yet: nobody is running
    with registered(folder):
        assert (folder / f"{HOST}-{os.getpid()}").is_file()
        assert live_runs(folder) == 1
        (folder / f"{HOST}-{other_process}").write_text("0\n")
        assert live_runs(folder) == 2
        (folder / f"another-node-{other_process}").write_text("0\n")  # a cluster node sharing the cache
        assert live_runs(folder) == 2 and (folder / f"another-node-{other_process}").exists()
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout.strip()
        (folder / f"{HOST}-{dead}").write_text("0\n")  # a run killed before it could remove its entry
        assert live_runs(folder) == 2 and not (folder / f"{HOST}-{dead}").exists()
    assert not (folder / f"{HOST}-{os.getpid()}").exists() and live_runs(folder) == 1


def test_a_registry_that_cannot_be_written_leaves_the_run_alone(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with registered(blocked / "live"):
        assert live_runs(blocked / "live") == 0


def test_only_an_automatic_count_is_divided_and_never_below_one():
    automatic = ThreadChoice(8, "cpu affinity", EIGHT_CORES)
    assert shared(automatic, 1) is automatic
    assert (shared(automatic, 3).count, shared(automatic, 3).source) == (2, "cpu affinity, shared by 3 imagelab runs")
    assert shared(ThreadChoice(1, "cgroup cpu quota", EIGHT_CORES), 4).count == 1
    for source in ("threads", "OMP_NUM_THREADS", "torch.set_num_threads"):
        given = ThreadChoice(8, source, EIGHT_CORES)
        assert shared(given, 4) is given  # the user's count is the user's to split


def test_shared_threads_follow_the_runs_as_they_come_and_go():
    runs = [1]
    plan = SharedThreads(ThreadChoice(4, "cpu affinity", EIGHT_CORES), lambda: runs[0])
    assert plan.update().count == 4 and torch.get_num_threads() == 4
    runs[0] = 2
    assert plan.update().count == 2 and torch.get_num_threads() == 2
    runs[0] = 1
    assert plan.update().count == 4 and torch.get_num_threads() == 4


def test_a_run_beside_another_takes_half_the_cores_at_every_stage(tiny_overrides, tmp_path, monkeypatch,
                                                                  other_process):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "cpu_share", lambda: CpuShare(affinity=4, physical_cores=4, quota=None))
    folder = registry_folder()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{HOST}-{other_process}").write_text("0\n")  # another run on this machine
    out = tmp_path / "run"
    overrides = [*(o for o in tiny_overrides if not o.startswith("loop.")), "loop.generations=1"]
    assert main(["run", "--out", str(out), *overrides]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["threads"]["count"], manifest["threads"]["from"]) == (2, "cpu affinity, shared by 2 imagelab runs")
    stages = {name: info["threads"] for generation in manifest["generations"].values()
              for name, info in generation["stages"].items()}
    assert set(stages) == {"fit", "sample", "judge", "metrics"} and set(stages.values()) == {2}
    assert not (folder / f"{HOST}-{os.getpid()}").exists()  # the run's own entry is gone with it
    assert live_runs() == 1


def test_a_run_alone_keeps_every_core(tiny_overrides, tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "cpu_share", lambda: CpuShare(affinity=4, physical_cores=4, quota=None))
    seen = []
    monkeypatch.setattr(machine_runs, "live_runs", lambda folder=None: seen.append(1) or 1)
    out = tmp_path / "run"
    overrides = [*(o for o in tiny_overrides if not o.startswith("loop.")), "loop.generations=1"]
    assert main(["run", "--out", str(out), *overrides]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["threads"]["count"], manifest["threads"]["from"]) == (4, "cpu affinity")
    assert len(seen) >= 5  # asked at the start and before each of the four stages
