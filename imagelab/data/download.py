"""Fetching and unpacking Stanford Dogs and ImageWoof on a connected machine (see scripts/download_*.py).

A download goes to a temporary name and is renamed when complete, so an interrupted
one is never mistaken for the archive; unpacking uses tarfile's ``data`` filter (no
absolute paths, links out of the folder or device files); the result is checked
with the same folder reader that ``data.name=folder`` uses.
"""

from __future__ import annotations

import os
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError

from imagelab.data.folders import IMAGEWOOF_BREEDS, breed_folders, photo_files
from imagelab.errors import DataError


@dataclass(frozen=True)
class Archive:
    name: str
    url: str
    root: str  # the folder, relative to the output folder, to give as data.root
    breeds: int  # breed folders a complete copy holds


STANFORD_DOGS = Archive("Stanford Dogs", "http://vision.stanford.edu/aditya86/ImageNetDogs/images.tar", ".", 120)
IMAGEWOOF = Archive("ImageWoof (320 px)", "https://s3.amazonaws.com/fast-ai-imageclas/imagewoof2-320.tgz",
                    "imagewoof2-320", len(IMAGEWOOF_BREEDS))


def fetch(url: str, folder: Path) -> Path:
    """Download ``url`` into ``folder`` (kept if already complete); a DataError when offline."""
    from torchvision.datasets.utils import download_url

    target = folder / url.rsplit("/", 1)[-1]
    if target.is_file():
        return target
    partial = folder / f".{target.name}.part"
    partial.unlink(missing_ok=True)  # download_url would take a leftover partial file for a finished one
    try:
        download_url(url, str(folder), filename=partial.name)
    except (URLError, OSError, RuntimeError) as error:
        partial.unlink(missing_ok=True)
        raise DataError(f"cannot download {url} ({getattr(error, 'reason', error)}); this needs a machine with "
                        f"network access: download it there (or by hand) and copy the archive to {target}") from None
    os.replace(partial, target)
    return target


def unpack(archive: Path, out: Path) -> None:
    """Extract a tar or tar.gz archive into ``out``."""
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(out, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise DataError(f"cannot unpack {archive}: {error}; delete it and download it again") from None


def verify(root: Path, expected_breeds: int) -> dict[str, int]:
    """Photo files per breed under ``root`` (as data.name=folder reads it); a DataError if breeds are missing."""
    if not root.is_dir():
        raise DataError(f"{root} was not created by unpacking; the archive is not the expected one")
    counts = {breed: len(photo_files(folders)) for breed, folders in breed_folders(root).items()}
    empty = [breed for breed, count in counts.items() if count == 0]
    if len(counts) != expected_breeds or empty:
        raise DataError(f"{root} holds {len(counts)} breed folders ({len(empty)} empty), expected {expected_breeds} "
                        f"with photos; delete it and unpack the archive again")
    return counts


def prepare(archive: Archive, out: Path, keep_archive: bool = False) -> tuple[Path, dict[str, int]]:
    """Download, unpack and check ``archive`` under ``out``; returns data.root and the photos per breed."""
    out.mkdir(parents=True, exist_ok=True)
    root = (out / archive.root).resolve()
    try:
        return root, verify(root, archive.breeds)  # already there: nothing to do
    except DataError:
        pass
    path = fetch(archive.url, out)
    unpack(path, out)
    counts = verify(root, archive.breeds)
    if not keep_archive:
        path.unlink()
    return root, counts


def download_command(archive: Archive, out: Path, keep_archive: bool) -> int:
    """What the download scripts do: prepare, then print data.root and the counts (exit status 0, or 2)."""
    try:
        root, counts = prepare(archive, out, keep_archive)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{archive.name}: {sum(counts.values())} photo files of {len(counts)} breeds "
          f"({min(counts.values())}-{max(counts.values())} per breed) in {root}")
    print(f"use it with: data.name=folder data.root={root}")
    return 0
