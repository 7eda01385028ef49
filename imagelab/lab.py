"""The library API: run (or resume) a lab, and read any run folder back.

    import imagelab

    run = imagelab.run("toy-ddpm", out="runs/ddpm", overrides=["loop.generations=5"])
    run.rows[-1]["breeds_alive"]          # the last generation's metrics row
    run.samples(5).images                 # (N, 3, H, W) uint8: generation 5's samples
    imagelab.load_run("runs/ddpm")        # the same folder read back, later or elsewhere

`imagelab run` is a thin shell over ``run``; `imagelab run --seeds` and `imagelab sweep`
call ``run_in_folder`` once per run (experiments/). ``load_run`` and the ``Run`` it returns
live in run_reader.py. See docs/python-api.md.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import time
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from imagelab.config import DEFAULT_PRESET, RunConfig, apply_override, config_from_dict, load_config
from imagelab.data import DATASETS
from imagelab.errors import ConfigError, RunFolderError, UserError
from imagelab.generators import GENERATORS, Generator
from imagelab.loop.collapse import CollapseLoop
from imagelab.metrics.metric import METRICS
from imagelab.pools.filters import FILTERS
from imagelab.pools.regimes import REGIMES
from imagelab.preflight import check_before_run, with_absolute_paths
from imagelab.report import html
from imagelab.report.run_summary import summarize
from imagelab.report.seeds_report import build_seeds_report
from imagelab.run_reader import Run, load_run
from imagelab.runs.aggregate import is_aggregate
from imagelab.runs.folder import RunFolder
from imagelab.runs.layout import (
    LOG_FILE,
    TRACKERS_DIR,
)
from imagelab.runtime import distributed, machine_runs
from imagelab.runtime.code_versions import CodeSource, code_source
from imagelab.runtime.cpu_kind import cpu_kind, describe_cpu
from imagelab.runtime.device import prefer_determinism, resolve_device
from imagelab.runtime.run_log import LOGGER_NAME, run_logging
from imagelab.runtime.threads import SharedThreads, ThreadChoice, choose_threads
from imagelab.runtime.trackers import open_trackers

log = logging.getLogger(LOGGER_NAME)

# What ``run`` accepts as a config: a RunConfig, a YAML path, a preset name, a nested mapping, or None
# (the embedded default).
ConfigSource = RunConfig | str | os.PathLike | Mapping | None
DEFAULT_CONFIG_NAME = DEFAULT_PRESET  # the embedded default is the toy-vae preset
MAPPING_CONFIG_NAME = "lab"  # folder name prefix of a run made from a RunConfig or a mapping
VERSIONED_PACKAGES = ("imagelab", "torch", "torchvision", "timm", "torchmetrics")


def run(config: ConfigSource = None, *, out: str | os.PathLike | None = None,
        overrides: Sequence[str] = (), threads: int | None = None, allow_code_change: bool = False) -> Run:
    """Run (or resume) a lab in ``out``, print its summary, build its report and return the run.

    ``overrides`` are ``KEY=VALUE`` strings with dotted keys and YAML values, applied on
    top of ``config``. ``out`` defaults to ``runs/<config name>-<hash of the resolved config>``.
    An ``out`` that holds the same config is resumed after its last complete stage; one
    that holds another config is refused (RunFolderError), and nothing in it changes.
    So is one made with another version of a plugin's distribution, unless
    ``allow_code_change`` (the change is then recorded in its manifest).
    ``threads``: torch's CPU threads; default: OMP_NUM_THREADS, else the CPUs this process
    may use (runtime/threads.py); the count is recorded in the manifest.
    """
    resolved = resolve_config(config, overrides)
    folder = Path(out) if out is not None else default_out(config, resolved)
    run_in_folder(resolved, folder, threads=threads, allow_code_change=allow_code_change)
    return load_run(folder)


def resolve_config(config: ConfigSource = None, overrides: Sequence[str] = ()) -> RunConfig:
    """``config`` with ``overrides`` applied, checked as strictly as a YAML file is."""
    overrides = override_list(overrides)
    if config is None or isinstance(config, (str, os.PathLike)):
        return load_config(None if config is None else os.fspath(config), overrides)
    if isinstance(config, RunConfig):
        tree = config.to_dict()  # re-parsed below: a RunConfig edited by hand is checked like a file
    elif isinstance(config, Mapping):
        tree = copy.deepcopy(dict(config))
    else:
        raise ConfigError("config", "must be a RunConfig, a YAML path, a preset name, a mapping or None, "
                                    f"got {type(config).__name__}")
    for override in overrides:
        apply_override(tree, override)
    return config_from_dict(tree)


def override_list(overrides: Sequence[str]) -> list[str]:
    """``overrides`` as a list of strings; a lone string would be applied character by character."""
    if isinstance(overrides, str) or not all(isinstance(item, str) for item in overrides):
        raise ConfigError("overrides", f"must be a list of KEY=VALUE strings, e.g. ['loop.generations=5'], "
                                       f"got {overrides!r}")
    return list(overrides)


def config_name(config: ConfigSource) -> str:
    """The name a config's default run folder starts with: the preset or file name."""
    if config is None:
        return DEFAULT_CONFIG_NAME
    if isinstance(config, (str, os.PathLike)):
        return Path(config).stem
    return MAPPING_CONFIG_NAME


def default_out(config: ConfigSource, resolved: RunConfig) -> Path:
    """``runs/<config name>-<first 8 hex digits of the resolved config's sha256>``."""
    digest = hashlib.sha256(resolved.to_yaml().encode()).hexdigest()[:8]
    return Path("runs") / f"{config_name(config)}-{digest}"


def run_in_folder(config: RunConfig, out: Path, *, threads: int | None = None,
                  allow_code_change: bool = False) -> None:
    """Run (or resume) one lab in ``out``, print its summary and build its report.

    Everything that can be checked without data or training is checked first, before
    the folder is written (preflight.py); local paths are stored absolute. The folder
    stays locked against other processes until the run and its report are done. In a
    multi-process launch every process calls this; the main one writes.
    ``threads`` as in ``run``: torch's thread count is set here, before any work; an
    automatic one is re-divided before each stage between the imagelab runs live on the
    machine (runtime/machine_runs.py).
    """
    config = check_before_run(config)
    with machine_runs.registered():
        thread_plan = SharedThreads(choose_threads(threads), machine_runs.live_runs)
        _run_in_folder(config, Path(out), thread_plan, allow_code_change)


def _run_in_folder(config: RunConfig, out: Path, thread_plan: SharedThreads, allow_code_change: bool) -> None:
    thread_choice = thread_plan.update()
    device, processes = join_processes(config)
    if device.type == "cuda" and processes.device is not None:
        device = processes.device  # cuda:LOCAL_RANK, one GPU per process
    prefer_determinism(device)
    code = code_sources(config)
    folder = _open_run_folder(out, config, processes, code, allow_code_change)
    # Plugins log through their own package's logger (logging.getLogger(__name__)); log.txt gets those lines too.
    plugin_loggers = sorted({source.module.split(".")[0] for source in code} - {LOGGER_NAME})
    try:
        with run_logging(folder.root / LOG_FILE if processes.is_main else None, plugin_loggers):
            for change in folder.code_changes:
                log.warning(f"code changed since this run was made: {change.describe()} (recorded in the manifest's "
                            f"code_changes)")
            _record_threads(folder, thread_choice)
            _record_cpu(folder)
            _run_loop(config, folder, device, processes, thread_plan)
    finally:
        folder.close()


def _run_loop(config: RunConfig, folder: RunFolder, device: torch.device,
              processes: distributed.Processes, thread_plan: SharedThreads) -> None:
    resumed = bool(folder.manifest["generations"])
    on = f"{device}" if not processes.launched else f"{processes.count} processes ({device.type})"
    threads = folder.manifest.get("threads", {})
    on += f", {threads['count']} threads ({threads['from']})" if threads else ""
    log.info(f"{'resuming' if resumed else 'starting'} run in {folder.root} on {on} ({config.generator.name} "
             f"generator, {config.loop.regime} regime, {config.loop.generations} generations)")
    start = time.perf_counter()
    trackers = config.log_with if processes.is_main else []  # the main process measures, and speaks for all
    try:
        with open_trackers(trackers, folder.root / TRACKERS_DIR, config.to_dict(), folder.manifest) as sink:
            outcome = CollapseLoop(config, folder, device, sink, thread_plan).run()
    except BaseException as error:
        folder.set("status", "interrupted" if isinstance(error, KeyboardInterrupt) else f"failed: {error}")
        raise
    if processes.is_main:
        print(summarize(outcome.rows, outcome.detection_floors, folder.root, time.perf_counter() - start))
        folder.set("report", {"seconds": round(build_report(folder.root), 3)})  # the last stage of a run


def _record_threads(folder: RunFolder, choice: ThreadChoice) -> None:
    """The thread count into the manifest; a resume on another count is said, as its numbers may differ."""
    earlier = folder.manifest.get("threads", {}).get("count")
    if earlier is not None and earlier != choice.count:
        log.warning(f"this run's earlier stages used {earlier} torch threads, this session uses {choice.count}: "
                    "metrics depend slightly on the thread count (give the same --threads, or threads=, to keep it)")
    folder.set("threads", choice.record())


def _record_cpu(folder: RunFolder) -> None:
    """The kind of CPU into the manifest; a resume on another kind is said, as its numbers may differ."""
    kind = cpu_kind()
    earlier = folder.manifest.get("cpu")
    if earlier is not None and earlier != kind:
        log.warning(f"this run's earlier stages ran on {describe_cpu(earlier)}, this session runs on "
                    f"{describe_cpu(kind)}: metrics depend on the CPU's kernels, so its later generations are "
                    "not the ones the earlier machine would have made (docs/reliability.md#determinism)")
    folder.set("cpu", kind)


def build_report(run_dir: str | os.PathLike) -> float:
    """(Re)build ``run_dir``/report/index.html and say where it is; returns the seconds it took."""
    start = time.perf_counter()
    # A --seeds folder gets the report of its seeds (the aggregate, survival), a run folder its own.
    index = build_seeds_report(Path(run_dir)) if is_aggregate(Path(run_dir)) else html.build_report(Path(run_dir))
    seconds = time.perf_counter() - start
    print(f"Report: {index}  (built in {seconds:.1f}s; open it in a browser)")
    return seconds


def join_processes(config: RunConfig) -> tuple[torch.device, distributed.Processes]:
    """The run's device, and this process's place if a launcher started several (idempotent)."""
    device = resolve_device(config.device)
    return device, distributed.start(cpu=device.type == "cpu")


def _open_run_folder(out: Path, config: RunConfig, processes: distributed.Processes, code: list[CodeSource],
                     allow_code_change: bool) -> RunFolder:
    """Open (or resume) the folder in the main process; the others follow it, or share its refusal."""
    if processes.is_main:
        try:
            # A stored config is read as today's parser reads it, its relative paths resolved as ours were.
            folder = RunFolder.open(out, config.to_dict(), package_versions(),
                                    resolve=lambda stored: with_absolute_paths(config_from_dict(stored)).to_dict(),
                                    code=code, allow_code_change=allow_code_change)
        except UserError as error:
            processes.broadcast(str(error))
            raise
        processes.broadcast(None)
        return folder
    refusal = processes.broadcast(None)
    if refusal is not None:
        raise RunFolderError(refusal)
    return RunFolder.follow(out)


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide a run's numbers, for its manifest."""
    found = {}
    for package in VERSIONED_PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def code_sources(config: RunConfig) -> list[CodeSource]:
    """Where the code of each plugin the run uses comes from (distribution and version), for its manifest."""
    chosen = [("generator", config.generator.name, GENERATORS), ("regime", config.loop.regime, REGIMES),
              ("filter", config.loop.filter, FILTERS), ("dataset", config.data.name, DATASETS)]
    chosen += [("metric", metric.name, METRICS) for metric in config.eval.extra_metrics()]
    return [code_source(role, name, registry) for role, name, registry in chosen]


def register_generator(name: str, generator_class: type[Generator]) -> type[Generator]:
    """Make ``generator_class`` available as ``generator.name=<name>`` in this process (a notebook cell).

    The same as decorating the class with ``@GENERATORS.register(name)``; a name can be
    registered once per process. Packages register through the ``imagelab.generators``
    entry-point group instead, so that every process (and `imagelab list`) sees them.
    """
    if not (isinstance(generator_class, type) and issubclass(generator_class, Generator)):
        raise TypeError(f"generator '{name}': expected a subclass of imagelab.plugin.Generator, "
                        f"got {generator_class!r}")
    return GENERATORS.register(name)(generator_class)
