"""The `imagelab` command: run a lab, build its report, compare runs, list what is registered.

    imagelab run [CONFIG] [--out DIR] [--seeds 0,1,2] [KEY=VALUE ...]
    imagelab sweep SWEEP.yaml [--out DIR] [--list]
    imagelab report RUN_DIR
    imagelab compare RUN_DIR... --out DIR
    imagelab list generators|presets|regimes|filters|datasets

User errors (bad config, data or run folder) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from imagelab.errors import DeviceOutOfMemoryError, NonFiniteLossError, UserError

log = logging.getLogger("imagelab")

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TRAINING_FAILED = 1


def main(argv: list[str] | None = None) -> int:
    from imagelab.runtime import distributed
    from imagelab.runs import lock as run_lock

    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except UserError as error:
        _say(f"imagelab: error: {error}")
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        _say("imagelab: interrupted; run the same command again to resume")
        return EXIT_INTERRUPTED
    except (NonFiniteLossError, DeviceOutOfMemoryError) as error:
        _say(f"imagelab: stopped: {error}; earlier generations are intact in the run folder")
        return EXIT_TRAINING_FAILED
    finally:
        # A run folder stays locked against other processes until its run and report are done.
        run_lock.release_all()
        distributed.finish()


def _say(message: str) -> None:
    """An error line on stderr, once: in a multi-process run only the main process speaks."""
    from imagelab.runtime import distributed

    if distributed.current().is_main:
        print(message, file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagelab", description="Watch image generators collapse on their own output.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run (or resume) a collapse lab",
                              description="Run a lab. CONFIG is a YAML file or a preset name (default: the embedded "
                                          "toy-dog VAE lab); KEY=VALUE overrides use dotted keys and YAML values.")
    run.add_argument("items", nargs="*", metavar="[CONFIG] [KEY=VALUE ...]")
    run.add_argument("--out", help="run folder (default: runs/<config name>-<config hash>); "
                                   "an existing folder with the same config is resumed")
    run.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    run.add_argument("--seeds", help="comma-separated seeds, e.g. 0,1,2,3,4: one run per seed in OUT/seed_<s>/, "
                                     "and their mean and 95%% confidence interval in OUT/aggregate.csv")
    run.set_defaults(handler=_run)

    sweep = commands.add_parser("sweep", help="run (or resume) a grid of runs and tabulate their final metrics",
                                description="Run every combination of a sweep file's grid, one run folder each "
                                            "(finished runs are skipped, a partial one resumed), then write "
                                            "DIR/summary.csv.")
    sweep.add_argument("sweep_file", metavar="SWEEP", help="a sweep YAML file, or the name of a bundled sweep")
    sweep.add_argument("--out", type=Path, help="folder of the sweep's runs (default: runs/<sweep name>)")
    sweep.add_argument("--list", action="store_true",
                       help="print one `imagelab run` command per run (for a cluster's job array) and exit")
    sweep.set_defaults(handler=_sweep)

    report = commands.add_parser("report", help="(re)build a run's HTML report",
                                 description="Build RUN_DIR/report/index.html, a static page of plots, sample grids and "
                                             "the breed mosaic (also built at the end of `imagelab run`).")
    report.add_argument("run_dir", metavar="RUN_DIR", type=Path)
    report.set_defaults(handler=_report)

    compare = commands.add_parser("compare", help="compare runs on one HTML page",
                                  description="Write DIR/index.html with the runs' metrics overlaid and side by side.")
    compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", type=Path)
    compare.add_argument("--out", required=True, type=Path,
                         help="folder for the page (new, empty, or an earlier comparison, which is replaced)")
    compare.set_defaults(handler=_compare)

    listing = commands.add_parser("list", help="list registered generators, presets, regimes, filters, "
                                               "metrics or datasets")
    listing.add_argument("what", choices=("generators", "presets", "regimes", "filters", "metrics",
                                          "datasets"))
    listing.add_argument("-v", "--verbose", action="store_true",
                         help="generators, metrics: also where each comes from and what it is "
                              "(tab-separated: name, source, object, description)")
    listing.set_defaults(handler=_list)
    return parser


def _run(args: argparse.Namespace) -> int:
    from imagelab.config import load_config

    source, overrides = _split_items(args.items)
    config = load_config(source, overrides)
    if args.print_config:
        print(config.to_yaml(), end="")
        return 0

    if args.seeds is not None:
        return _run_seeds(args.seeds, source, overrides, args.out)
    text = config.to_yaml()
    out = Path(args.out) if args.out else Path("runs") / f"{_config_name(source)}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    run_lab(config, out)
    return 0


def run_lab(config, out: Path) -> None:
    """Run (or resume) one lab in ``out``, print its summary and build its report."""
    from imagelab.runtime.device import prefer_determinism
    from imagelab.loop.collapse import CollapseLoop
    from imagelab.report.run_summary import summarize

    device, processes = _join_processes(config)
    if device.type == "cuda" and processes.device is not None:
        device = processes.device  # cuda:LOCAL_RANK, one GPU per process
    prefer_determinism(device)
    folder = _open_run_folder(out, config, processes)
    if processes.is_main:
        _log_to(folder.root / "log.txt")
    resumed = bool(folder.manifest["generations"])
    on = f"{device}" if not processes.launched else f"{processes.count} processes ({device.type})"
    log.info(f"{'resuming' if resumed else 'starting'} run in {folder.root} on {on} "
             f"({config.generator.name} generator, {config.loop.regime} regime, {config.loop.generations} generations)")
    start = time.perf_counter()
    try:
        outcome = CollapseLoop(config, folder, device).run()
    except BaseException as error:
        folder.set("status", "interrupted" if isinstance(error, KeyboardInterrupt) else f"failed: {error}")
        raise
    if processes.is_main:
        print(summarize(outcome.rows, outcome.detection_floors, folder.root, time.perf_counter() - start))
        folder.set("report", {"seconds": round(_build_report(folder.root), 3)})  # the last stage of a run


def _join_processes(config):
    """The run's device, and this process's place if a launcher started several (idempotent)."""
    from imagelab.runtime import distributed
    from imagelab.runtime.device import resolve_device

    device = resolve_device(config.device)
    return device, distributed.start(cpu=device.type == "cpu")


def _open_run_folder(out: Path, config, processes):
    """Open (or resume) the run folder in the main process; the others follow once it has, or share its refusal."""
    from imagelab.errors import RunFolderError
    from imagelab.runs.folder import RunFolder

    if processes.is_main:
        try:
            folder = RunFolder.open(out, config.to_dict(), _versions())
        except UserError as error:
            processes.broadcast(str(error))
            raise
        processes.broadcast(None)
        return folder
    refusal = processes.broadcast(None)
    if refusal is not None:
        raise RunFolderError(refusal)
    log.setLevel(logging.ERROR)  # progress lines and warnings come from the main process only
    return RunFolder.follow(out)


def _run_seeds(seeds_text: str, source: str | None, overrides: list[str], out_arg: str | None) -> int:
    """One run per seed in OUT/seed_<s>/ (each resumable), then OUT/aggregate.csv."""
    from imagelab.config import load_config
    from imagelab.errors import ConfigError
    from imagelab.experiments.seeds import describe_final, parse_seeds, prepare_folder, seed_folder, write_aggregate

    seeds = parse_seeds(seeds_text)
    if any(item.startswith("seed=") for item in overrides):
        raise ConfigError("--seeds", "conflicts with a seed=... override; give the seeds in --seeds only")
    configs = {seed: load_config(source, [*overrides, f"seed={seed}"]) for seed in seeds}
    if out_arg:
        out = Path(out_arg)
    else:
        without_seed = {k: v for k, v in configs[seeds[0]].to_dict().items() if k != "seed"}
        digest = hashlib.sha256(repr(without_seed).encode()).hexdigest()[:8]
        out = Path("runs") / f"{_config_name(source)}-{digest}-seeds"
    out = out.expanduser().resolve()
    _, processes = _join_processes(configs[seeds[0]])
    with processes.main_first():
        prepare_folder(out, seeds)
    for seed in seeds:
        if processes.is_main:
            print(f"== seed {seed} ({seeds.index(seed) + 1}/{len(seeds)}): {seed_folder(out, seed)}", flush=True)
        run_lab(configs[seed], seed_folder(out, seed))
    processes.wait()  # every seed's metrics are written before the main process reads them
    if processes.is_main:
        table = write_aggregate(out, seeds)
        print(describe_final(table))
        print(f"Aggregate: {out / 'aggregate.csv'}  (compare seed folders with `imagelab compare {out}/seed_* --out DIR`)")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from imagelab.config import load_config
    from imagelab.experiments.sweep import list_commands, load_sweep, run_sweep

    sweep = load_sweep(args.sweep_file)
    out = (args.out or Path("runs") / sweep.name).expanduser().resolve()
    if args.list:
        print("\n".join(list_commands(sweep, out)))
        return 0
    _join_processes(load_config(sweep.config, sweep.runs[0].overrides))
    failed = run_sweep(sweep, out, run_lab)
    return EXIT_TRAINING_FAILED if failed else 0


def _report(args: argparse.Namespace) -> int:
    _build_report(args.run_dir)
    return 0


def _build_report(run_dir: Path) -> float:
    """Build the run's report (in a temporary folder renamed into place); returns the seconds it took."""
    from imagelab.report.html import build_report

    start = time.perf_counter()
    index = build_report(run_dir)
    seconds = time.perf_counter() - start
    print(f"Report: {index}  (built in {seconds:.1f}s; open it in a browser)")
    return seconds


def _compare(args: argparse.Namespace) -> int:
    from imagelab.report.compare import build_comparison

    print(f"Comparison: {build_comparison(args.run_dirs, args.out)}")
    return 0


def _split_items(items: list[str]) -> tuple[str | None, list[str]]:
    """The optional CONFIG (the first item without '=') and the KEY=VALUE overrides."""
    from imagelab.errors import ConfigError

    source = None
    overrides = []
    for position, item in enumerate(items):
        if "=" in item:
            overrides.append(item)
        elif position == 0:
            source = item
        else:
            raise ConfigError(item, "expected KEY=VALUE here; CONFIG must come first")
    return source, overrides


def _config_name(source: str | None) -> str:
    return "toy-vae" if source is None else Path(source).stem


def _list(args: argparse.Namespace) -> int:
    if args.what == "presets":
        from imagelab.config import preset_names

        print("\n".join(preset_names()))
    elif args.what == "generators":
        from imagelab.generators import GENERATORS

        for entry in GENERATORS.entries():
            # One name per line; --verbose appends tab-separated columns, so `cut -f1` still gives the names.
            print(f"{entry.name}\t{entry.source}\t{entry.location}\t{_describe(entry.obj)}" if args.verbose else entry.name)
        for name, why in GENERATORS.broken.items():
            print(f"imagelab: warning: generator plugin '{name}' failed to load: {why}", file=sys.stderr)
    elif args.what == "regimes":
        from imagelab.pools.regimes import REGIMES

        print("\n".join(REGIMES.names()))
    elif args.what == "filters":
        from imagelab.pools.filters import FILTERS

        print("\n".join(FILTERS.names()))
    elif args.what == "metrics":
        from imagelab.metrics.metric import METRICS  # the package registers the built-in metrics

        for entry in METRICS.entries():
            verbose = f"{entry.name}\t{entry.source}\t{entry.location}\t{_describe(entry.obj)}"
            print(verbose if args.verbose else entry.name)
        for name, why in METRICS.broken.items():
            print(f"imagelab: warning: metric plugin '{name}' failed to load: {why}", file=sys.stderr)
    else:
        from imagelab.data import DATASETS

        print("\n".join(DATASETS.names()))
    return 0


def _describe(obj: object) -> str:
    describe = getattr(obj, "describe", None)
    try:
        return describe() if callable(describe) else ""
    except Exception as error:  # a plugin's own code must not break the listing
        return f"(describe() failed: {type(error).__name__})"


def _log_to(path: Path) -> None:
    """Progress lines to stderr, and the same lines with timestamps to the run's log.txt."""
    log.setLevel(logging.INFO)
    log.handlers.clear()
    console = _ConsoleHandler()
    console.setFormatter(logging.Formatter("%(message)s"))
    file = logging.FileHandler(path, encoding="utf-8")
    file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(console)
    log.addHandler(file)
    log.propagate = False


class _ConsoleHandler(logging.Handler):
    """Writes log lines through tqdm, so they land above a progress bar instead of inside it."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        tqdm.write(self.format(record), file=sys.stderr)


def _versions() -> dict[str, str]:
    found = {}
    for package in ("imagelab", "torch", "torchvision", "timm", "torchmetrics"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


if __name__ == "__main__":
    sys.exit(main())
