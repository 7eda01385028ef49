"""Tracebacks for people: where an error was raised (for one-line messages) and the whole chain (for logs).

The one-line messages of the CLI name the file and line an error came from; the full
traceback goes to the run's log.txt, and to the terminal with ``--debug`` or
``IMAGELAB_DEBUG=1``.
"""

from __future__ import annotations

import importlib
import os
import traceback
from pathlib import Path

DEBUG_ENV = "IMAGELAB_DEBUG"
DEBUG_HINT = f"--debug (or {DEBUG_ENV}=1) prints the traceback"

# Frames of the import machinery say nothing about where a plugin went wrong.
_IMPORT_MACHINERY = str(Path(importlib.__file__).parent)


def debug_requested() -> bool:
    """True when ``IMAGELAB_DEBUG`` is set to anything but empty or 0."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def raised_at(error: BaseException, ignore: tuple[str, ...] = (), within: str | None = None) -> str | None:
    """``file:line`` of the last frame of ``error``'s traceback, the import machinery and ``ignore`` skipped.

    With ``within`` (a folder or file), the last frame in it if there is one: a plugin's own
    line says more than the library line it called. A SyntaxError names the file and line
    of the bad code itself. None when no frame is left (say, a module that does not exist).
    """
    if isinstance(error, SyntaxError) and error.filename:
        return f"{error.filename}:{error.lineno}"
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if not frame.filename.startswith("<frozen") and not frame.filename.startswith(_IMPORT_MACHINERY)
              and frame.filename not in ignore]
    preferred = [frame for frame in frames if within is not None and frame.filename.startswith(within)]
    frames = preferred or frames
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None


def format_chain(error: BaseException) -> str:
    """``error``'s traceback with every exception it came from, even those hidden by ``raise ... from None``.

    Oldest first, as Python prints a chain: the plugin's own error comes before the
    one-line message the lab made of it.
    """
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    parts = ["".join(traceback.format_exception(type(e), e, e.__traceback__, chain=False)) for e in reversed(chain)]
    return "\nwhich led to:\n\n".join(parts).rstrip("\n")
