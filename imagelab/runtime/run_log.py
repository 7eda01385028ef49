"""Where a run's progress lines go while it runs: stderr, and the same lines with timestamps in its log.txt.

Every module logs to the ``imagelab`` logger. While a run goes, that logger writes
INFO and above to stderr (through tqdm, so a line lands above a progress bar, not
inside it) and to the run's log file; afterwards it is put back as it was, so a
notebook that runs several labs does not keep writing into the first one's log.
In a multi-process run only the main process speaks; the others show errors only.

Whatever stops a run (a user error, a failed stage, an interrupt, a bug) is written to
log.txt with its whole traceback; the terminal gets the CLI's one line only. A plugin's
own logger (named after its package, as ``logging.getLogger(__name__)`` names it) is
written to log.txt too, at INFO and above; what it prints on the terminal stays the
plugin's own logging configuration.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tqdm.auto import tqdm  # the class progress.py's bars are, so a line is written above them

from imagelab.errors import UserError
from imagelab.runtime.tracebacks import format_chain

LOGGER_NAME = "imagelab"
FILE_ONLY = "file_only"  # a log record's attribute: write it to log.txt, not to the terminal


@contextmanager
def run_logging(log_file: Path | None, plugin_loggers: Sequence[str] = ()) -> Iterator[None]:
    """Progress lines to stderr and ``log_file`` while the body runs; ``None``: errors only.

    ``None`` is for the other processes of a multi-process run: the main one speaks for them.
    ``plugin_loggers``: the loggers of the run's plugin packages, also written to ``log_file``.
    """
    log = logging.getLogger(LOGGER_NAME)
    saved_level, saved_handlers, saved_propagate = log.level, list(log.handlers), log.propagate
    handlers: list[logging.Handler] = []
    if log_file is None:
        log.setLevel(logging.ERROR)  # progress lines and warnings come from the main process only
    else:
        console = _ConsoleHandler()
        console.setFormatter(logging.Formatter("%(message)s"))
        file = logging.FileHandler(log_file, encoding="utf-8")
        file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handlers = [console, file]
        log.setLevel(logging.INFO)
        log.handlers[:] = handlers
        log.propagate = False  # a notebook's root handler would print every line a second time
    plugins = [_PluginLog(name, handlers[-1]) for name in plugin_loggers] if handlers else []
    try:
        yield
    except BaseException as error:
        if log_file is not None:
            _record_stop(log, error)
        raise
    finally:
        for plugin in plugins:
            plugin.detach()
        for handler in handlers:
            handler.close()
        log.setLevel(saved_level)
        log.handlers[:] = saved_handlers
        log.propagate = saved_propagate


def _record_stop(log: logging.Logger, error: BaseException) -> None:
    """What stopped the run, and its traceback with every exception it came from, into log.txt only."""
    if isinstance(error, KeyboardInterrupt):
        what = "interrupted"
    elif isinstance(error, UserError):
        what = f"stopped by a user error: {error}"
    else:
        what = f"stopped: {type(error).__name__}: {error}"
    log.error(f"{what}\n{format_chain(error)}", extra={FILE_ONLY: True})


class _PluginLog:
    """A plugin package's logger, made to write INFO and above into log.txt too while the run goes."""

    def __init__(self, name: str, file: logging.Handler) -> None:
        self.logger, self.file = logging.getLogger(name), file
        self.saved_level = self.logger.level
        if self.logger.getEffectiveLevel() > logging.INFO:
            self.logger.setLevel(logging.INFO)
        self.logger.addHandler(file)

    def detach(self) -> None:
        self.logger.removeHandler(self.file)
        self.logger.setLevel(self.saved_level)


class _ConsoleHandler(logging.Handler):
    """Writes log lines through tqdm, so they land above a progress bar instead of inside it."""

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, FILE_ONLY, False):
            return  # the CLI says it in one line; the traceback is for log.txt
        tqdm.write(self.format(record), file=sys.stderr)
