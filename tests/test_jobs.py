"""--jobs N: runs side by side in processes of their own, with the numbers of one at a time."""

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from imagelab.cli import main
from imagelab.experiments.jobs import threads_per_job
from imagelab.runtime import threads
from imagelab.runtime.cache import building


def tiny(tiny_overrides, **changes):
    overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in tiny_overrides)}
    return {**overrides, "loop.generations": 1, **changes}


def write_sweep(path, overrides, grid):
    path.write_text(yaml.safe_dump({"overrides": overrides, "grid": grid}, sort_keys=False))
    return path


def test_a_sweep_with_two_jobs_gives_the_summary_of_one_job(tiny_overrides, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(threads, "_applied", threads._applied)
    before = torch.get_num_threads()
    sweep = write_sweep(tmp_path / "seeds.yaml", tiny(tiny_overrides), {"seed": [0, 1]})
    one, two = tmp_path / "one", tmp_path / "two"
    try:
        # One thread per run in both: the metrics depend on the thread count, not on the runs beside them.
        assert main(["sweep", str(sweep), "--out", str(one), "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(before)
    capsys.readouterr()
    assert main(["sweep", str(sweep), "--out", str(two), "--jobs", "2", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "2 runs, 2 at a time, 1 torch thread each" in printed
    assert "seed-0: started" in printed and "seed-1: complete in" in printed
    assert (two / "summary.csv").read_text() == (one / "summary.csv").read_text()
    for run in ("seed-0", "seed-1"):
        assert (two / run / "metrics.csv").read_text() == (one / run / "metrics.csv").read_text()
        manifest = json.loads((two / run / "manifest.json").read_text())
        assert manifest["status"] == "complete" and manifest["threads"]["count"] == 1
        assert manifest["setup"]["judge_training"]["origin"] == "cache"  # the first sweep trained it once
        assert (two / "logs" / f"{run}.log").is_file()
    # Resumed with jobs: finished runs are skipped, nothing is started.
    assert main(["sweep", str(sweep), "--out", str(two), "--jobs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "seed-0: complete, skipped" in printed and "started" not in printed


def test_a_failing_seed_is_named_with_its_exit_status_and_log_and_the_others_finish(
        tiny_overrides, tmp_path, capsys):
    root = tmp_path / "seeds"
    (root / "seed_1").mkdir(parents=True)
    (root / ".imagelab-seeds").write_text("an earlier --seeds run\n")
    (root / "seed_1" / "notes.txt").write_text("not a run folder")  # seed 1's run refuses it (exit status 2)
    overrides = [f"{key}={value}" for key, value in tiny(tiny_overrides, **{"generator.name": "resample"}).items()
                 if not key.startswith("generator.") or key == "generator.name"]
    assert main(["run", "--seeds", "0,1", "--jobs", "2", "--out", str(root), *overrides]) == 1
    captured = capsys.readouterr()
    log = root / "logs" / "seed_1.log"
    assert f"seed_1 failed (exit status 2); its log: {log}" in captured.err
    assert "is not empty and holds no imagelab run" in captured.out  # the failed run's own message, from its log
    manifest = json.loads((root / "seed_0" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["threads"]["count"] == threads_per_job(2).count
    assert not (root / "aggregate.csv").exists()


def test_ctrl_c_interrupts_every_job_and_marks_each_folder_interrupted(tiny_overrides, tmp_path):
    long_runs = tiny(tiny_overrides, **{"loop.generations": 500})
    long_runs = {key: value for key, value in long_runs.items() if not key.startswith("generator.")}
    sweep = write_sweep(tmp_path / "long.yaml", {**long_runs, "generator.name": "resample"}, {"seed": [0, 1]})
    out = tmp_path / "out"
    parent = subprocess.Popen([sys.executable, "-m", "imagelab", "sweep", str(sweep), "--out", str(out),
                               "--jobs", "2", "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    try:
        deadline = time.monotonic() + 300
        while not all(_generations(out / run) >= 1 for run in ("seed-0", "seed-1")):
            assert parent.poll() is None and time.monotonic() < deadline, parent.stdout.read()
            time.sleep(0.5)
        parent.send_signal(signal.SIGINT)
        output, _ = parent.communicate(timeout=120)
    finally:
        parent.kill()
    assert parent.returncode == 130, output
    for run in ("seed-0", "seed-1"):
        assert json.loads((out / run / "manifest.json").read_text())["status"] == "interrupted"
        holder = int((out / run / ".imagelab.lock").read_text())
        assert not _alive(holder), f"{run}'s process {holder} still runs"
        assert f"{run}: interrupted" in output


def test_a_cache_entry_is_built_under_a_lock_that_other_processes_wait_on(tmp_path):
    entry = tmp_path / "judges" / "abc"
    other = None
    try:
        with building(entry, "training this judge"):
            other = os.open(tmp_path / "judges" / ".abc.lock", os.O_RDWR)  # as another process opens it
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released with the body: taken at once
    finally:
        if other is not None:
            os.close(other)


def _generations(folder):
    try:
        return len(json.loads((folder / "manifest.json").read_text())["generations"])
    except (OSError, ValueError):
        return 0


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
