"""Bad data in photo folders: odd modes are converted, unusable files skipped and logged, or stop the run (strict)."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from imagelab.cli import main
from imagelab.config import load_config
from imagelab.data import build_real_data
from imagelab.data.decode import Skipped, decode_photo
from imagelab.errors import ConfigError, DataError
from tests.photo_folders import photo, write_breed

SPLITS = ["data.resolution=16", "data.judge_train_per_breed=2", "data.eval_per_breed=1",
          "data.imbalance.profile=none", "data.imbalance.max_count=1"]


def odd_files(folder):
    """Convertible odd images (name -> expected centre pixel) and unusable files (names)."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("L", (30, 24), 90).save(folder / "gray.jpg")
    Image.new("CMYK", (30, 24), (0, 255, 255, 0)).save(folder / "cmyk.jpg")  # full magenta + yellow: red
    Image.new("RGBA", (30, 24), (0, 0, 255, 0)).save(folder / "transparent.png")  # fully transparent: background
    Image.new("RGB", (30, 24), (0, 128, 0)).convert("P").save(folder / "palette.png")
    Image.fromarray(np.full((24, 30), 32896, dtype=np.uint16)).save(folder / "sixteen_bit.png")  # 32896/65535 = 128/255
    Image.new("RGB", (10, 9), (200, 100, 0)).save(folder / "tiny_but_usable.png")  # upscaled to 16 px
    Image.new("1", (30, 24), 1).save(folder / "bilevel.png")
    convertible = {"gray.jpg": (90, 90, 90), "cmyk.jpg": (255, 0, 0), "transparent.png": (255, 255, 255),
                   "palette.png": (0, 128, 0), "sixteen_bit.png": (128, 128, 128),
                   "tiny_but_usable.png": (200, 100, 0), "bilevel.png": (255, 255, 255)}
    good = folder / "good.jpg"
    photo(1, (100, 100, 100), (60, 40)).save(good, quality=95)
    truncated = good.read_bytes()
    (folder / "truncated.jpg").write_bytes(truncated[: len(truncated) // 2])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    Image.new("RGB", (4, 3)).save(folder / "too_small.png")  # below data.min_side (8 px)
    unusable = {"truncated.jpg", "empty.jpg", "notes.txt", "too_small.png"}
    return convertible, unusable


def test_odd_modes_are_converted_to_rgb(tmp_path):
    convertible, _ = odd_files(tmp_path)
    for name, expected in convertible.items():
        image = decode_photo(tmp_path / name, 16, 8)
        assert isinstance(image, torch.Tensor), f"{name}: {image}"
        assert image.shape == (3, 16, 16) and image.dtype == torch.uint8
        centre = image[:, 8, 8].tolist()
        assert all(abs(a - b) <= 3 for a, b in zip(centre, expected)), f"{name}: {centre} != {expected}"


def test_resize_keeps_the_centre_of_wide_and_tall_photos(tmp_path):
    wide = np.zeros((20, 60, 3), dtype=np.uint8)
    wide[:, 20:40] = 255  # a white middle third between black sides: the crop keeps only the middle
    Image.fromarray(wide).save(tmp_path / "wide.png")
    image = decode_photo(tmp_path / "wide.png", 16, 8)
    assert image.shape == (3, 16, 16) and image[:, :, 2:14].min() >= 250


def test_unusable_files_are_skipped_with_a_reason(tmp_path):
    _, unusable = odd_files(tmp_path)
    for name in unusable:
        result = decode_photo(tmp_path / name, 16, 8)
        assert isinstance(result, Skipped) and result.path.endswith(name)
    assert "too small (4x3 px" in decode_photo(tmp_path / "too_small.png", 16, 8).reason
    assert "unreadable" in decode_photo(tmp_path / "truncated.jpg", 16, 8).reason


def test_huge_images_are_decoded_and_decompression_bombs_skipped_without_warnings(tmp_path, monkeypatch):
    # PIL warns above MAX_IMAGE_PIXELS and refuses above twice that; shrink the limit instead of writing 90 MP images.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    folder = tmp_path / "dogs" / "big_dog"
    write_breed(folder, 4, 0)  # 28x22 .. 31x31 px: under the shrunken limit
    Image.new("RGB", (40, 40), (10, 20, 30)).save(folder / "large.png")  # 1,600 px: over the limit, under twice
    Image.new("RGB", (50, 50), (10, 20, 30)).save(folder / "bomb.png")  # 2,500 px: over twice the limit
    config = load_config(None, ["data.name=folder", f"data.root={tmp_path / 'dogs'}", *SPLITS]).data
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DecompressionBombWarning escaping would fail here
        data = build_real_data(config)
    assert data.source["usable_images"] == {"big_dog": 5}
    large = [image for split in data.splits.values() for image in split.images
             if image[:, 8, 8].tolist() == [10, 20, 30]]
    assert len(large) == 1  # the large photo, decoded and downscaled
    (skipped,) = data.source["skipped"]
    assert skipped["path"].endswith("bomb.png") and "too large to decode safely" in skipped["reason"]


def test_a_folder_with_bad_files_is_read_skipping_and_logging_them(tmp_path, caplog):
    convertible, unusable = odd_files(tmp_path / "dogs" / "odd_breed")
    write_breed(tmp_path / "dogs" / "plain_breed", 6, 0)
    (tmp_path / "dogs" / ".hidden_folder").mkdir()  # hidden entries are not breeds or photos
    (tmp_path / "dogs" / "plain_breed" / ".DS_Store").write_bytes(b"\0\1")
    config = load_config(None, ["data.name=folder", f"data.root={tmp_path / 'dogs'}", *SPLITS]).data
    with caplog.at_level(logging.WARNING, logger="imagelab"):
        data = build_real_data(config)
    assert data.breeds == ("odd_breed", "plain_breed")
    assert data.source["usable_images"] == {"odd_breed": len(convertible) + 1, "plain_breed": 6}
    assert data.source["skipped_files"] == len(unusable)
    assert {entry["path"].rsplit("/", 1)[-1] for entry in data.source["skipped"]} == unusable
    for name in unusable:
        assert name in caplog.text
    assert f"skipped {len(unusable)} of {len(convertible) + 1 + len(unusable) + 6} files" in caplog.text

    # From the cache, the same files are reported again.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="imagelab"):
        build_real_data(config)
    assert all(name in caplog.text for name in unusable)


def test_strict_stops_at_the_first_unusable_file(tmp_path, tiny_overrides, capsys):
    odd_files(tmp_path / "dogs" / "odd_breed")
    config = load_config(None, ["data.name=folder", f"data.root={tmp_path / 'dogs'}", "data.strict=true", *SPLITS]).data
    with pytest.raises(DataError, match=r"(empty|notes|too_small|truncated)\.(jpg|txt|png): .*data\.strict is true"):
        build_real_data(config)
    overrides = [o for o in tiny_overrides if not o.startswith("data.")]
    code = main(["run", "--out", str(tmp_path / "run"), *overrides, "data.name=folder",
                 f"data.root={tmp_path / 'dogs'}", "data.strict=true", *SPLITS])
    error = capsys.readouterr().err
    assert code == 2 and "data.strict is true" in error and str(tmp_path / "dogs" / "odd_breed") in error


def test_a_breed_of_only_unreadable_files_exits_2(tmp_path, tiny_overrides, capsys):
    write_breed(tmp_path / "dogs" / "beagle", 6, 0)
    (tmp_path / "dogs" / "broken").mkdir()
    for name in "abcde":  # enough files for the splits, none of them readable
        (tmp_path / "dogs" / "broken" / f"{name}.jpg").write_bytes(b"garbage")
    overrides = [o for o in tiny_overrides if not o.startswith("data.")]
    code = main(["run", "--out", str(tmp_path / "run"), *overrides, "data.name=folder",
                 f"data.root={tmp_path / 'dogs'}", *SPLITS])
    assert code == 2 and "breed 'broken' has no readable images" in capsys.readouterr().err


def test_skipped_files_count_against_a_breeds_photos(tmp_path):
    write_breed(tmp_path / "dogs" / "beagle", 4, 0)
    (tmp_path / "dogs" / "beagle" / "broken.jpg").write_bytes(b"garbage")  # 5 files, 4 usable; 5 are needed
    config = load_config(None, ["data.name=folder", f"data.root={tmp_path / 'dogs'}", *SPLITS]).data
    with pytest.raises(ConfigError, match=r"breed 'beagle' has 4 usable images but the splits need 5"):
        build_real_data(config)
