"""Thread counts from the CPUs a process may really use (affinity, cgroup quota), unless the user set one."""

import json
import os

import pytest
import torch

from imagelab.cli import main
from imagelab.errors import ConfigError
from imagelab.runtime import threads
from imagelab.runtime.threads import (
    CpuShare,
    ThreadChoice,
    cgroup_quota,
    choose_threads,
    cpu_share,
    physical_cores,
)

pytestmark = pytest.mark.usefixtures("fresh_thread_choice")


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_cgroup_v2_quota_is_the_tightest_of_the_process_cgroup_and_those_above_it(tmp_path):
    proc = write(tmp_path / "proc_cgroup", "0::/kubepods/pod1\n")
    write(tmp_path / "cg" / "kubepods" / "pod1" / "cpu.max", "max 100000\n")
    write(tmp_path / "cg" / "kubepods" / "cpu.max", "250000 100000\n")
    assert cgroup_quota(tmp_path / "cg", proc) == 2.5
    write(tmp_path / "cg" / "kubepods" / "pod1" / "cpu.max", "150000 100000\n")
    assert cgroup_quota(tmp_path / "cg", proc) == 1.5


def test_cgroup_v2_inside_a_container_reads_the_mount_root(tmp_path):
    # A container sees its own cgroup as the mount's root, while /proc/self/cgroup may name the host's path.
    proc = write(tmp_path / "proc_cgroup", "0::/system.slice/docker-abc.scope\n")
    write(tmp_path / "cg" / "cpu.max", "50000 100000\n")
    assert cgroup_quota(tmp_path / "cg", proc) == 0.5


def test_cgroup_v1_quota_over_period_and_no_quota(tmp_path):
    proc = write(tmp_path / "proc_cgroup", "5:memory:/x\n3:cpu,cpuacct:/docker/abc\n")
    folder = tmp_path / "cg" / "cpu,cpuacct" / "docker" / "abc"
    write(folder / "cpu.cfs_quota_us", "300000\n")
    write(folder / "cpu.cfs_period_us", "100000\n")
    assert cgroup_quota(tmp_path / "cg", proc) == 3.0
    write(folder / "cpu.cfs_quota_us", "-1\n")  # unlimited
    assert cgroup_quota(tmp_path / "cg", proc) is None
    assert cgroup_quota(tmp_path / "none", tmp_path / "missing") is None  # no cgroup files at all


def test_physical_cores_count_hyperthread_pairs_once(tmp_path):
    for cpu, siblings in enumerate(["0-1", "0-1", "2-3", "2-3"]):
        write(tmp_path / f"cpu{cpu}" / "topology" / "thread_siblings_list", siblings)
    assert physical_cores({0, 1, 2, 3}, tmp_path) == 2
    assert physical_cores({0, 2}, tmp_path) == 2
    assert physical_cores({0, 1}, tmp_path) == 1
    assert physical_cores({7, 8}, tmp_path) == 2  # unreadable topology: each CPU counts as a core


def test_the_automatic_count_follows_affinity_and_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    share = cpu_share(cgroup_root=tmp_path / "cg", proc_cgroup=tmp_path / "missing", topology=tmp_path)
    assert share == CpuShare(affinity=3, physical_cores=3, quota=None)
    assert choose_threads(environ={}, share=share).record() == {
        "count": 3, "from": "cpu affinity", "cpus": {"affinity": 3, "physical_cores": 3, "quota": None}}
    quota = CpuShare(affinity=3, physical_cores=3, quota=1.5)
    assert (choose_threads(environ={}, share=quota).count, choose_threads(environ={}, share=quota).source) == (
        1, "cgroup cpu quota")  # rounded down: a thread more than the quota would be throttled
    assert CpuShare(affinity=8, physical_cores=8, quota=0.2).usable == (1, "cgroup cpu quota")


def test_omp_num_threads_wins_over_the_machine_and_an_explicit_count_over_both():
    share = CpuShare(affinity=8, physical_cores=8, quota=None)
    assert choose_threads(environ={"OMP_NUM_THREADS": "3"}, share=share).record()["from"] == "OMP_NUM_THREADS"
    assert choose_threads(environ={"OMP_NUM_THREADS": "3"}, share=share).count == 3
    assert choose_threads(environ={"OMP_NUM_THREADS": "4,2"}, share=share).count == 4  # nested levels: outer
    assert choose_threads(5, environ={"OMP_NUM_THREADS": "3"}, share=share).record()["count"] == 5
    with pytest.raises(ConfigError, match="OMP_NUM_THREADS: must be a positive integer"):
        choose_threads(environ={"OMP_NUM_THREADS": "many"}, share=share)
    with pytest.raises(ConfigError, match="threads: must be a positive integer"):
        choose_threads(0, environ={}, share=share)


def test_a_torch_set_num_threads_of_the_user_is_kept(monkeypatch):
    share = CpuShare(affinity=8, physical_cores=8, quota=None)
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_applied", None)
    monkeypatch.setattr(threads, "_TORCH_THREADS_AT_IMPORT", before)
    assert choose_threads(environ={}, share=share).record()["from"] == "cpu affinity"
    try:
        torch.set_num_threads(before + 1)  # as a notebook would, after importing imagelab
        assert choose_threads(environ={}, share=share).record()["from"] == "torch.set_num_threads"
        assert choose_threads(environ={}, share=share).count == before + 1
        # A count an earlier run set from the machine is not the user's ...
        monkeypatch.setattr(threads, "_applied", ThreadChoice(before + 1, "cpu affinity", share))
        assert choose_threads(environ={}, share=share).count == 8
        # ... but one it took from the user's set_num_threads still is, for every later run of the process.
        monkeypatch.setattr(threads, "_applied", ThreadChoice(before + 1, "torch.set_num_threads", share))
        assert choose_threads(environ={}, share=share).record()["from"] == "torch.set_num_threads"
        assert choose_threads(environ={}, share=share).count == before + 1
    finally:
        torch.set_num_threads(before)


def test_the_run_sets_torch_threads_and_records_them_in_the_manifest(tiny_overrides, tmp_path, monkeypatch):
    before = torch.get_num_threads()
    out = tmp_path / "run"
    overrides = [*(o for o in tiny_overrides if not o.startswith("generator.")), "generator.name=resample",
                 "loop.generations=0"]
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        assert main(["run", "--out", str(out), *overrides]) == 0
        recorded = json.loads((out / "manifest.json").read_text())["threads"]
        assert (recorded["count"], recorded["from"]) == (1, "OMP_NUM_THREADS") and torch.get_num_threads() == 1
        assert recorded["cpus"]["affinity"] >= 1
        # Resumed with another count: the manifest has the new one and the log says that numbers may differ.
        assert main(["run", "--out", str(out), "--threads", "2", *overrides]) == 0
        recorded = json.loads((out / "manifest.json").read_text())["threads"]
        assert (recorded["count"], recorded["from"]) == (2, "threads") and torch.get_num_threads() == 2
        assert "earlier stages used 1 torch threads, this session uses 2" in (out / "log.txt").read_text()
    finally:
        torch.set_num_threads(before)


def test_bad_thread_and_job_options_exit_2(capsys):
    with pytest.raises(SystemExit) as stopped:  # argparse refuses it, with the usage line
        main(["run", "--threads", "0"])
    assert stopped.value.code == 2 and "--threads: must be a positive integer" in capsys.readouterr().err
    assert main(["run", "--jobs", "2"]) == 2
    assert "--jobs: runs several seeds at a time; give them with --seeds" in capsys.readouterr().err
