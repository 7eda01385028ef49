"""Atomic writes: a file or folder appears whole under its name, or not at all.

Everything is written under a temporary sibling name and renamed into place, so a
killed process leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


def _temporary_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temp_path)``, then rename the result over ``path`` in one step."""
    temp = _temporary_sibling(path)
    try:
        write(temp)
        os.replace(temp, path)
    finally:
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
        elif temp.exists():
            temp.unlink()


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda temp: temp.write_text(text))


@contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Fill a temporary folder, then put it in place of ``path`` (an older copy is replaced)."""
    temp = _temporary_sibling(path)
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    try:
        yield temp
        if path.exists():
            shutil.rmtree(path)
        os.replace(temp, path)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
