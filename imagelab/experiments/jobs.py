"""Several runs at once on one machine (``--jobs N``): each an ``imagelab run`` process of its own.

The CPUs this process may use are split between the N runs: each gets
``available // N`` torch threads (at least 1), or ``--threads`` if given, so that N runs
side by side do not spin N times as many threads as there are cores. The count depends
on N only, not on how many runs are left, so a resumed sweep keeps its runs' counts.

Each run is a fresh Python process (``python -m imagelab run CONFIG.yaml --out FOLDER
--threads K``), not a fork: torch with its thread pools is not safe to fork, and a run
that crashes (even by a signal) takes only its own process down. Its config is the
resolved one, written beside its log in ``LOG_DIR/<name>.config.yaml``; its output goes
to ``LOG_DIR/<name>.log``. A run that fails is reported with its exit status and log
while the others go on; Ctrl-C (or SIGTERM) interrupts every run, each marking its
folder interrupted so that the same command resumes it (a second Ctrl-C kills them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from imagelab.config import RunConfig
from imagelab.errors import ConfigError
from imagelab.runs.atomic import atomic_write_text
from imagelab.runs.layout import MANIFEST_FILE
from imagelab.runtime.distributed import Processes
from imagelab.runtime.progress import progress_bar
from imagelab.runtime.threads import ThreadChoice, choose_threads

POLL_SECONDS = 0.5  # how often the runs' manifests are read for the progress lines
STOP_GRACE_SECONDS = 60  # after Ctrl-C, how long a run may take to mark its folder before it is killed


@dataclass(frozen=True)
class Job:
    name: str  # in progress lines and log file names
    config: RunConfig
    folder: Path  # the run folder
    allow_code_change: bool = False  # resume a folder made with other plugin versions (imagelab run's flag)


@dataclass(frozen=True)
class JobOutcome:
    name: str
    returncode: int  # the `imagelab run` exit status: 0 complete, 1 a failed stage, 2 a user error, <0 a signal
    log: Path
    seconds: float

    @property
    def failed(self) -> bool:
        return self.returncode != 0

    def describe_failure(self) -> str:
        how = f"killed by signal {-self.returncode}" if self.returncode < 0 else f"exit status {self.returncode}"
        return f"{self.name} failed ({how}); its log: {self.log}"


def check_jobs(jobs: int) -> int:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError("--jobs", f"must be a positive integer (runs at a time), got {jobs!r}")
    return jobs


def threads_per_job(jobs: int, threads: int | None = None) -> ThreadChoice:
    """Each run's torch threads with ``jobs`` runs at a time.

    ``threads`` (``--threads``) and ``OMP_NUM_THREADS`` are counts per process, so each
    run gets them as they are; otherwise each gets the count this process would use
    alone (the CPUs it may use, or its torch.set_num_threads) divided by ``jobs``, at least 1.
    """
    alone = choose_threads(threads)
    if alone.source in ("threads", "OMP_NUM_THREADS"):
        return alone
    return ThreadChoice(max(1, alone.count // check_jobs(jobs)), f"{alone.count} ({alone.source}) / {jobs} jobs",
                        alone.share)


def refuse_jobs_when_launched(jobs: int, processes: Processes) -> None:
    """--jobs starts processes of its own; under accelerate launch or torchrun each run is already split."""
    if jobs > 1 and processes.launched:
        raise ConfigError("--jobs", "cannot be combined with a multi-process launch (accelerate launch, torchrun), "
                                    "which splits each run between its processes; give --jobs 1 there")


def run_side_by_side(jobs: list[Job], at_once: int, threads: int | None, log_dir: Path) -> list[JobOutcome]:
    """``jobs``, ``at_once`` at a time, the CPUs split between them (see ``threads_per_job``); their outcomes."""
    each = threads_per_job(at_once, threads)
    _say(f"== {len(jobs)} runs, {at_once} at a time, {each.count} torch thread{'s' * (each.count != 1)} each "
         f"(from {each.source}); logs in {log_dir}")
    side_by_side, (cpus, _) = min(at_once, len(jobs)), each.share.usable
    if each.count * side_by_side > cpus:
        _say(f"imagelab: warning: {side_by_side} runs of {each.count} threads on {cpus} usable CPUs: "
             "their threads will compete for the cores")
    return run_jobs(jobs, at_once, each.count, log_dir)


def run_jobs(jobs: list[Job], at_once: int, threads: int, log_dir: Path) -> list[JobOutcome]:
    """Run ``jobs``, ``at_once`` at a time with ``threads`` torch threads each; their outcomes in job order.

    Prints a line when a run starts and ends, and one progress line per running run
    (a bar on a terminal; elsewhere a line each time a run finishes a generation).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    pending, running, outcomes = deque(jobs), [], {}
    with _stop_requests() as stops:
        while pending or running:
            if stops:
                _stop(running, stops)
                raise KeyboardInterrupt
            while pending and len(running) < at_once:
                running.append(_Running.start(pending.popleft(), threads, log_dir, slot=_free_slot(running)))
            time.sleep(POLL_SECONDS)
            for job in list(running):
                job.show_progress()
                if job.process.poll() is not None:
                    running.remove(job)
                    outcomes[job.job.name] = job.finish()
    return [outcomes[job.name] for job in jobs]


class _Running:
    """One run's process, its log, and its progress line."""

    def __init__(self, job: Job, process: subprocess.Popen, log: Path, slot: int) -> None:
        self.job, self.process, self.log, self.slot = job, process, log, slot
        self.started = time.perf_counter()
        self.total = job.config.loop.generations + 1  # generation 0 (the real pool) is measured too
        self.done = -1
        self.bar = progress_bar(self.total, job.name, unit="gen", position=slot, terminal_only=True)

    @classmethod
    def start(cls, job: Job, threads: int, log_dir: Path, slot: int) -> _Running:
        config_file = log_dir / f"{job.name}.config.yaml"
        atomic_write_text(config_file, job.config.to_yaml())
        command = [sys.executable, "-m", "imagelab", "run", str(config_file), "--out", str(job.folder),
                   "--threads", str(threads)] + (["--allow-code-change"] if job.allow_code_change else [])
        log = log_dir / f"{job.name}.log"
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n")
            handle.flush()
            # A session of its own: Ctrl-C in the terminal reaches this process only, which then stops each
            # run once (a second SIGINT could cut a run short while it marks its folder interrupted).
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
                                       env=_job_environment(threads), start_new_session=True)
        _say(f"== {job.name}: started ({threads} thread{'s' * (threads != 1)}; log: {log})")
        return cls(job, process, log, slot)

    def show_progress(self) -> None:
        done = _generations_done(self.job.folder)
        if done == self.done:
            return
        self.done = done
        self.bar.update(done + 1 - self.bar.n)
        if self.bar.disable and done >= 0:
            _say(f"   {self.job.name}: generation {done}/{self.total - 1} done "
                 f"({time.perf_counter() - self.started:.0f}s)")

    def finish(self) -> JobOutcome:
        self.show_progress()
        self.bar.close()
        outcome = JobOutcome(self.job.name, self.process.returncode, self.log, time.perf_counter() - self.started)
        if outcome.failed:
            _say(f"imagelab: run {outcome.describe_failure()}: {_last_line(self.log)}; the others go on")
        else:
            _say(f"== {self.job.name}: complete in {outcome.seconds:.0f}s")
        return outcome


def _job_environment(threads: int) -> dict[str, str]:
    """The environment of a run's process: this one's, with the thread count and this imagelab first on the path."""
    package_parent = str(Path(__file__).resolve().parents[2])  # the folder holding this imagelab: the same code
    path = [package_parent, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ,
            "OMP_NUM_THREADS": str(threads),  # also caps OpenMP/BLAS pools outside torch (numpy, scikit-learn)
            "TQDM_DISABLE": "1",  # its bars would only fill the log; the progress lines here follow its manifest
            "PYTHONPATH": os.pathsep.join(dict.fromkeys(path))}


def run_status(folder: Path) -> str:
    """A run folder's status from its manifest: complete, running, interrupted, failed: ..., or not started."""
    try:
        return str(json.loads((folder / MANIFEST_FILE).read_text()).get("status", "unknown"))
    except (OSError, ValueError):
        return "not started"


def _generations_done(folder: Path) -> int:
    """The last generation whose metrics are written (-1: none yet), from the run's manifest."""
    try:
        generations = json.loads((folder / MANIFEST_FILE).read_text())["generations"]
    except (OSError, ValueError, KeyError, TypeError):
        return -1  # not written yet (the manifest is replaced atomically, so never half-read)
    return max((int(g) for g, record in generations.items() if "metrics" in record.get("stages", {})), default=-1)


def _free_slot(running: list[_Running]) -> int:
    taken = {job.slot for job in running}
    return next(slot for slot in range(len(running) + 1) if slot not in taken)


def _stop(running: list[_Running], stops: list[int]) -> None:
    """Interrupt every run once and give each time to mark its folder interrupted, then kill what is left.

    What still runs after STOP_GRACE_SECONDS, or at a second Ctrl-C, is killed (its folder stays resumable).
    """
    for job in running:
        if job.process.poll() is None:
            job.process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while any(job.process.poll() is None for job in running) and time.monotonic() < deadline and len(stops) < 2:
        time.sleep(0.1)
    for job in running:
        if job.process.poll() is None:
            job.process.kill()
        job.process.wait()
        job.bar.close()
        _say(f"== {job.job.name}: interrupted (log: {job.log})")


@contextmanager
def _stop_requests() -> Iterator[list[int]]:
    """While runs go, Ctrl-C and SIGTERM (a scheduler's stop) only ask the loop to stop, between two steps.

    A KeyboardInterrupt raised anywhere could land between starting a run and keeping hold of
    it, and leave it running unseen; the loop instead sees the request (the yielded list is
    non-empty) and stops every run it holds. Outside the main thread signals cannot be caught,
    and the list stays empty.
    """
    stops: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield stops
        return
    previous = {sig: signal.signal(sig, lambda signum, frame: stops.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stops
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _last_line(log: Path) -> str:
    """The last non-empty line of a run's log: usually the error that stopped it."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(log unreadable)"
    return lines[-1] if lines else "(no output)"


def _say(line: str) -> None:
    tqdm.write(line, file=sys.stdout)
