"""One writer per run folder: a second process is refused, a dead one's lock file does not block."""

import fcntl
import os
import subprocess
import sys

import pytest

from imagelab.cli import main
from imagelab.errors import RunFolderError
from imagelab.runs import lock as run_lock
from imagelab.runs.folder import RunFolder

VERSIONS = {"torch": "test"}


def hold_lock_in_another_process(folder):
    """A child process that flocks the folder's lock file like a running `imagelab run`, until killed."""
    code = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode()); print('held', flush=True); "
            "time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code, str(folder / run_lock.LOCK_FILE)], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_folder_locked_by_another_process_is_refused_and_left_alone(tmp_path, tiny_overrides, capsys):
    run = tmp_path / "run"
    run.mkdir()
    child = hold_lock_in_another_process(run)
    try:
        assert main(["run", "--out", str(run), *tiny_overrides]) == 2
        error = capsys.readouterr().err
        assert f"is in use by process {child.pid}" in error and "choose another --out" in error
        assert "Traceback" not in error
        assert [p.name for p in run.iterdir()] == [run_lock.LOCK_FILE]  # no config, manifest or log written
    finally:
        child.kill()
        child.wait()
    # The holder is gone (killed, not cleaned up): its lock file stays but no longer blocks.
    folder = RunFolder.open(run, {"seed": 0}, VERSIONS)
    assert (run / "manifest.json").exists()
    folder.close()


def test_the_lock_is_held_until_closed_and_a_stale_lock_file_does_not_block(tmp_path):
    root = tmp_path / "run"
    folder = RunFolder.open(root, {"seed": 0}, VERSIONS)
    probe = os.open(root / run_lock.LOCK_FILE, os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):  # what any other process sees while the run holds the folder
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        folder.close()
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once closed
        with pytest.raises(RunFolderError, match=f"in use by process {os.getpid()}"):
            RunFolder.open(root, {"seed": 0}, VERSIONS)  # held through another descriptor: refused
    finally:
        os.close(probe)
    assert RunFolder.open(root, {"seed": 0}, VERSIONS).manifest["status"] == "running"
    run_lock.release_all()


def test_half_written_files_of_a_killed_process_are_removed_on_resume(tmp_path):
    root = tmp_path / "run"
    RunFolder.open(root, {"seed": 0}, VERSIONS).close()
    (root / "gen_001").mkdir()
    (root / "gen_001" / ".samples.safetensors.tmp-99999").write_bytes(b"half")
    (root / "gen_001" / ".generator.tmp-99999").mkdir()
    (root / "gen_001" / ".generator.tmp-99999" / "model.safetensors").write_bytes(b"half")
    RunFolder.open(root, {"seed": 0}, VERSIONS).close()
    assert list((root / "gen_001").iterdir()) == []
