"""The download helpers' offline error, unpacking and checks, on tiny archives made here (no network)."""

from __future__ import annotations

import tarfile

import pytest

from imagelab.data.download import Archive, fetch, prepare
from imagelab.errors import DataError
from tests.photo_folders import stanford_dogs

UNREACHABLE = "http://127.0.0.1:9/images.tar"  # the discard port: refused at once


def tiny_stanford_tar(tmp_path, out):
    source = stanford_dogs(tmp_path / "source", {"n02085620-Chihuahua": 3, "n02088364-beagle": 2})
    out.mkdir()
    with tarfile.open(out / "images.tar", "w") as tar:
        tar.add(source / "Images", arcname="Images")


def test_an_archive_in_place_is_unpacked_checked_and_removed(tmp_path):
    out = tmp_path / "stanford-dogs"
    tiny_stanford_tar(tmp_path, out)
    root, counts = prepare(Archive("tiny", UNREACHABLE, ".", 2), out)
    assert root == out.resolve() and counts == {"beagle": 2, "chihuahua": 3}
    assert (out / "Images" / "n02085620-Chihuahua").is_dir() and not (out / "images.tar").exists()
    # Run again: already complete, nothing is fetched (the URL is unreachable).
    assert prepare(Archive("tiny", UNREACHABLE, ".", 2), out)[1] == counts


def test_an_incomplete_copy_is_reported(tmp_path):
    out = tmp_path / "stanford-dogs"
    tiny_stanford_tar(tmp_path, out)
    with pytest.raises(DataError, match="holds 2 breed folders .* expected 120"):
        prepare(Archive("tiny", UNREACHABLE, ".", 120), out)


def test_offline_download_fails_clearly_and_leaves_no_partial_file(tmp_path):
    with pytest.raises(DataError, match=r"cannot download http://127\.0\.0\.1:9/images\.tar .*network access"):
        fetch(UNREACHABLE, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_archive_members_outside_the_folder_are_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "evil.txt").write_text("x")
    with tarfile.open(out / "images.tar", "w") as tar:
        tar.add(tmp_path / "evil.txt", arcname="../evil.txt")
    with pytest.raises(DataError, match="cannot unpack"):
        prepare(Archive("tiny", UNREACHABLE, ".", 1), out)
