"""The `imagelab` command: a thin shell over the library (lab.py, experiments/, report/).

    imagelab run [CONFIG] [--out DIR] [--seeds 0,1,2 [--vary V] [--jobs N]] [--threads N] [--allow-code-change]
                 [KEY=VALUE ...]
    imagelab sweep SWEEP.yaml [--out DIR] [--list] [--jobs N] [--threads N] [--allow-code-change]
    imagelab report RUN_DIR
    imagelab compare RUN_DIR... --out DIR
    imagelab export RUN_DIR --generation G --out DIR
    imagelab list generators|presets|regimes|filters|metrics|datasets

Options, CONFIG and overrides come in any order. Exit status: 0 success, 2 a user error
(bad config, data, plugin or run folder: one line, no traceback), 1 a stage that failed
(NaN loss, out of device memory, a generator that raised or returned what the loop cannot
use), 130 interrupted. A run's log.txt holds the traceback of whatever stopped it;
``--debug`` (or IMAGELAB_DEBUG=1) prints it on the terminal too.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

from imagelab import lab
from imagelab.config import preset_names
from imagelab.data import DATASETS
from imagelab.errors import ConfigError, RunsFailedError, StageFailedError, UserError
from imagelab.experiments.seeds import VARY, parse_seeds, run_seeds
from imagelab.experiments.sweep import list_commands, load_sweep, run_sweep
from imagelab.generators import GENERATORS
from imagelab.metrics.metric import METRICS
from imagelab.pools.filters import FILTERS
from imagelab.pools.regimes import REGIMES
from imagelab.report.compare import build_comparison
from imagelab.runs import lock as run_lock
from imagelab.runtime import distributed
from imagelab.runtime.tracebacks import DEBUG_ENV, debug_requested, format_chain

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TRAINING_FAILED = 1

# What `imagelab list` can show, besides presets: each kind's registry, plugins included.
LISTABLE = {"generators": GENERATORS, "regimes": REGIMES, "filters": FILTERS, "metrics": METRICS,
            "datasets": DATASETS}


def entry_point() -> None:
    """The installed `imagelab` command and `python -m imagelab`: main(), its status as the exit status."""
    # Importing torch, torchvision, timm, torchmetrics and scipy leaves about half a million objects
    # that live until the process ends; the interpreter's collections at exit walk them all: 1.5 s of
    # exit, 0.2 s once frozen, since every collection, the last ones included, then skips them
    # (benchmarks/startup.py). Only here, not in main(), which tests and Python callers run in their
    # own process.
    gc.freeze()
    sys.exit(main())


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    args.debug = getattr(args, "debug", False) or debug_requested()
    try:
        return args.handler(args)
    except UserError as error:
        _say_traceback(error, args.debug)
        _say(f"imagelab: error: {error}")
        return EXIT_USER_ERROR
    except KeyboardInterrupt as error:
        _say_traceback(error, args.debug)
        _say("imagelab: interrupted; run the same command again to resume")
        return EXIT_INTERRUPTED
    except (StageFailedError, RunsFailedError) as error:
        _say_traceback(error, args.debug)
        _say(f"imagelab: stopped: {error}; earlier generations are intact in the run folder")
        return EXIT_TRAINING_FAILED
    finally:
        # A run folder stays locked against other processes until its run and report are done.
        run_lock.release_all()
        distributed.finish()


def _say(message: str) -> None:
    """An error line on stderr, once: in a multi-process run only the main process speaks."""
    if distributed.current().is_main:
        print(message, file=sys.stderr)


def _say_traceback(error: BaseException, debug: bool) -> None:
    """With --debug, the traceback behind a one-line message, every exception it came from included."""
    if debug:
        _say(format_chain(error))


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with positional items allowed after options (`run toy-ddpm --out DIR K=V`).

    argparse fills a ``nargs='*'`` positional from the first run of positional items only;
    ``parse_intermixed_args`` would gather them all but refuses subcommands. So the items
    that come after an option are collected from what ``parse_known_args`` leaves over,
    in their order; a left-over option is still an error.
    """
    parser = _parser()
    args, left_over = parser.parse_known_args(argv)
    spill = getattr(args, "positionals", None)  # the command's list of positional items, if it has one
    unknown = [item for item in left_over if item.startswith("-")]
    if unknown or (left_over and spill is None):
        parser.error(f"unrecognized arguments: {' '.join(unknown or left_over)}")
    if left_over:
        setattr(args, spill, [*getattr(args, spill), *left_over])
    return args


ALLOW_CODE_CHANGE_HELP = ("resume {} although a plugin used (generator, regime, filter, dataset, metric) is now "
                          "installed at another version; the change is recorded in each manifest")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagelab",
                                     description="Watch image generators collapse on their own output.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run (or resume) a collapse lab",
                              description="Run a lab. CONFIG is a YAML file or a preset name (default: "
                                          "the embedded toy-dog VAE lab); KEY=VALUE overrides use dotted "
                                          "keys and YAML values. Options, CONFIG and overrides may come in "
                                          "any order.")
    run.add_argument("items", nargs="*", metavar="[CONFIG] [KEY=VALUE ...]")
    run.add_argument("--out", help="run folder (default: runs/<config name>-<config hash>); "
                                   "an existing folder with the same config is resumed")
    run.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    run.add_argument("--allow-code-change", action="store_true", help=ALLOW_CODE_CHANGE_HELP.format("a folder"))
    run.add_argument("--seeds", help="comma-separated seeds, e.g. 0,1,2,3,4: one run per seed in "
                                     "OUT/seed_<s>/, and their means with 95%% bootstrap intervals and "
                                     "survival in OUT/aggregate.csv")
    run.add_argument("--vary", choices=VARY, default="generator",
                     help="with --seeds, what a seed varies: generator (default: only the generator's randomness; "
                          "one real data draw and one judge for all), data (also the real data draw: data.seed), "
                          "all (also the judge's training seed: judge.seed)")
    _add_parallel_options(run, "seeds")
    run.set_defaults(handler=_run, positionals="items")

    sweep = commands.add_parser("sweep",
                                help="run (or resume) a grid of runs and tabulate their final metrics",
                                description="Run every combination of a sweep file's grid, one run folder "
                                            "each (finished runs are skipped, a partial one resumed), then "
                                            "write DIR/summary.csv.")
    sweep.add_argument("sweep_file", metavar="SWEEP",
                       help="a sweep YAML file, or the name of a bundled sweep")
    sweep.add_argument("--out", type=Path, help="folder of the sweep's runs (default: runs/<sweep name>)")
    sweep.add_argument("--list", action="store_true",
                       help="print one `imagelab run` command per run (for a cluster's job array) and exit")
    sweep.add_argument("--allow-code-change", action="store_true",
                       help=ALLOW_CODE_CHANGE_HELP.format("the sweep's run folders"))
    _add_parallel_options(sweep, "runs")
    sweep.set_defaults(handler=_sweep)

    report = commands.add_parser("report", help="(re)build a run's HTML report",
                                 description="Build RUN_DIR/report/index.html, a static page of plots, "
                                             "sample grids and the breed mosaic (also built at the end of "
                                             "`imagelab run`).")
    report.add_argument("run_dir", metavar="RUN_DIR", type=Path)
    report.set_defaults(handler=_report)

    compare = commands.add_parser("compare", help="compare runs on one HTML page",
                                  description="Write DIR/index.html with the runs' metrics overlaid and side "
                                              "by side.")
    compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    compare.add_argument("--out", required=True, type=Path,
                         help="folder for the page (new, empty, or an earlier comparison, which is replaced)")
    compare.set_defaults(handler=_compare, positionals="run_dirs")

    export = commands.add_parser("export", help="write one generation's diffusion model as a diffusers pipeline",
                                 description="Write generation G's UNet (EMA weights) and noise schedule to DIR "
                                             "with diffusers' save_pretrained, loadable with "
                                             "DDPMPipeline.from_pretrained(DIR) (generators ddpm, ddpm-cond, "
                                             "diffusers-pipeline).")
    export.add_argument("run_dir", metavar="RUN_DIR", type=Path)
    export.add_argument("--generation", required=True, type=int, metavar="G", help="a fitted generation, >= 1")
    export.add_argument("--out", required=True, type=Path, metavar="DIR", help="a new or empty folder for the pipeline")
    export.set_defaults(handler=_export)

    listing = commands.add_parser("list", help="list registered generators, presets, regimes, filters, "
                                               "metrics or datasets")
    listing.add_argument("what", choices=("presets", *LISTABLE))
    listing.add_argument("-v", "--verbose", action="store_true",
                         help="also where each comes from and what it is "
                              "(tab-separated: name, source, object, description)")
    listing.set_defaults(handler=_list)

    # Accepted before or after the command; SUPPRESS keeps a command's parser from overwriting the other's.
    for accepting in (parser, *commands.choices.values()):
        accepting.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                               help=f"print the traceback of a failure or of a plugin that fails to load "
                                    f"(also {DEBUG_ENV}=1)")
    return parser


def _add_parallel_options(command: argparse.ArgumentParser, what: str) -> None:
    command.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                         help=f"{what} at a time on this machine, each in its own process with its share of the "
                              "CPUs (default 1: one after another)")
    command.add_argument("--threads", type=_positive_int, metavar="N",
                         help="torch CPU threads of each run (default: OMP_NUM_THREADS, else the CPUs this process "
                              "may use, divided by --jobs); recorded in each manifest")


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def _run(args: argparse.Namespace) -> int:
    source, overrides = split_items(args.items)
    if args.print_config:
        print(lab.resolve_config(source, overrides).to_yaml(), end="")
    elif args.seeds is not None:
        run_seeds(source, seeds=parse_seeds(args.seeds), out=args.out, overrides=overrides, jobs=args.jobs,
                  threads=args.threads, allow_code_change=args.allow_code_change, vary=args.vary)
    elif args.vary != "generator":
        raise ConfigError("--vary", "says what each of several seeds varies; give them with --seeds, e.g. "
                                    "--seeds 0,1,2 --vary data")
    elif args.jobs != 1:
        raise ConfigError("--jobs", "runs several seeds at a time; give them with --seeds, e.g. --seeds 0,1 --jobs 2")
    else:
        lab.run(source, out=args.out, overrides=overrides, threads=args.threads,
                allow_code_change=args.allow_code_change)
    return 0


def split_items(items: list[str]) -> tuple[str | None, list[str]]:
    """The optional CONFIG (the one item without '=') and the KEY=VALUE overrides, in their order."""
    sources = [item for item in items if "=" not in item]
    if len(sources) > 1:
        raise ConfigError("CONFIG", f"give at most one config (a YAML path or a preset), got "
                                    f"{', '.join(sources)}; overrides look like KEY=VALUE")
    return (sources[0] if sources else None), [item for item in items if "=" in item]


def _sweep(args: argparse.Namespace) -> int:
    sweep = load_sweep(args.sweep_file)
    out = (args.out or Path("runs") / sweep.name).expanduser().resolve()
    if args.list:
        print("\n".join(list_commands(sweep, out)))
        return 0
    failed = run_sweep(sweep, out, jobs=args.jobs, threads=args.threads, allow_code_change=args.allow_code_change)
    return EXIT_TRAINING_FAILED if failed else 0


def _report(args: argparse.Namespace) -> int:
    lab.build_report(args.run_dir)
    return 0


def _compare(args: argparse.Namespace) -> int:
    print(f"Comparison: {build_comparison([Path(run_dir) for run_dir in args.run_dirs], args.out)}")
    return 0


def _export(args: argparse.Namespace) -> int:
    out = lab.load_run(args.run_dir).export(args.generation, args.out)
    print(f"Exported generation {args.generation} to {out} (load it with DDPMPipeline.from_pretrained)")
    return 0


def _list(args: argparse.Namespace) -> int:
    if args.what == "presets":
        print("\n".join(preset_names()))
        return 0
    registry = LISTABLE[args.what]
    for entry in registry.entries():
        # One name per line; --verbose appends tab-separated columns, so `cut -f1` still gives the names.
        columns = (entry.name, entry.source, entry.location, _describe(entry.obj))
        print("\t".join(columns) if args.verbose else entry.name)
    for name, why in registry.broken.items():
        if args.debug and name in registry.load_errors:
            print(format_chain(registry.load_errors[name]), file=sys.stderr)
        print(f"imagelab: warning: {registry.kind} plugin '{name}' failed to load: {why}", file=sys.stderr)
    return 0


def _describe(obj: object) -> str:
    describe = getattr(obj, "describe", None)
    try:
        return describe() if callable(describe) else ""
    except Exception as error:  # noqa: BLE001 - a plugin's own code must not break the listing
        return f"(describe() failed: {type(error).__name__})"


if __name__ == "__main__":
    entry_point()
