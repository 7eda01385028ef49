"""Progress bars: the one helper every stage, and any plugin, uses for work that takes more than a moment.

    from imagelab.plugin import progress_bar

    for epoch in progress_bar(range(epochs), "mine fit", unit="epoch"):
        ...
    with progress_bar(total_steps, "mine sampling", unit="step") as bar:
        for ...:
            bar.update(1)

A bar is a ``tqdm`` (``tqdm.auto``: a widget in a notebook) on stderr, cleared when it
ends (log lines go above it, see run_log.py). It is shown only by the main process of
a multi-process run, so that one set of bars is printed, and never when the
environment sets ``TQDM_DISABLE=1``. tqdm honours that variable only for arguments a
caller leaves out, and a bar created with ``disable=False`` printed anyway; here the
variable is read once, in one place. Other ``TQDM_*`` variables (``TQDM_MININTERVAL``,
``TQDM_NCOLS``, ...) still reach tqdm. Bars are shown on a terminal and in a
redirected stderr alike, as they always were.

A bar counts; it draws no random numbers and changes no result.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from tqdm.auto import tqdm

from imagelab.runtime import distributed

DISABLE_ENV = "TQDM_DISABLE"
# For loops run many times that are mostly quick (judging a few images): a bar appears only after this long.
PROGRESS_DELAY_S = 1.0
_FALSE_WORDS = ("", "0", "false", "no", "off")


def bars_disabled() -> bool:
    """True when ``TQDM_DISABLE`` is set to a true value (``1``, ``true``, ``yes``) or this is not the main process."""
    switched_off = os.environ.get(DISABLE_ENV, "").strip().lower() not in _FALSE_WORDS
    return switched_off or not distributed.current().is_main


def progress_bar(iterable_or_total: Iterable | int, description: str, *, unit: str = "it", delay: float = 0.0,
                 enabled: bool = True, position: int | None = None, terminal_only: bool = False) -> tqdm:
    """A progress bar over ``iterable_or_total``: an iterable to wrap, or a count of steps to ``update``.

    ``description`` leads the line (name the generator or stage: ``"ddpm sampling"``);
    ``unit`` names what is counted; ``delay`` (seconds) shows the bar only once the work
    has lasted that long, for loops that are often quick; ``enabled=False`` hides it.
    ``position`` keeps the bar on its own line among several at once (``--jobs``), and
    ``terminal_only`` shows it only when stderr is a terminal (such bars would fill a log).
    Use it as an iterator, or as a context manager with ``update(n)`` calls.
    """
    disable: bool | None = not enabled or bars_disabled()
    if terminal_only and not disable:
        disable = None  # tqdm's own rule: no bar unless its stream is a terminal
    options = {"desc": description, "unit": unit, "delay": delay, "leave": False, "disable": disable,
               "position": position}
    if isinstance(iterable_or_total, int):
        return tqdm(total=iterable_or_total, **options)
    return tqdm(iterable_or_total, **options)
