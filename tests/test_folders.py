"""data.name=folder: layouts, breed names, disjoint splits, the preprocessing cache and the CLI on photo folders."""

from __future__ import annotations

import csv
import json
import os

import pytest
import torch

import imagelab.data.photo_cache as photo_cache
from imagelab.cli import main
from imagelab.config import load_config
from imagelab.data import build_real_data
from imagelab.data.folders import breed_name
from imagelab.errors import ConfigError
from tests.photo_folders import imagewoof, stanford_dogs, write_breed

STANFORD = {"n02085620-Chihuahua": 30, "n02086240-Shih-Tzu": 24, "n02088364-beagle": 22}
SMALL_SPLITS = ["data.resolution=16", "data.judge_train_per_breed=6", "data.eval_per_breed=3",
                "data.imbalance.max_count=5", "data.imbalance.ratio=5"]


def folder_config(root, *overrides):
    return load_config(None, ["data.name=folder", f"data.root={root}", *SMALL_SPLITS, *overrides]).data


@pytest.fixture
def stanford(tmp_path):
    return stanford_dogs(tmp_path / "stanford", STANFORD)


@pytest.mark.parametrize("folder, breed", [
    ("n02085620-Chihuahua", "chihuahua"), ("n02086240-Shih-Tzu", "shih_tzu"),
    ("n02105641-Old_English_sheepdog", "old_english_sheepdog"), ("n02093754", "border_terrier"),
    ("n02096294", "australian_terrier"), ("Petit Basset Griffon Vendéen", "petit_basset_griffon_vendeen"),
    ("golden_retriever", "golden_retriever"),
])
def test_breed_names_are_cleaned_from_folder_names(folder, breed):
    assert breed_name(folder) == breed


def test_stanford_dogs_layout_gives_breeds_counts_and_disjoint_splits(stanford):
    data = build_real_data(folder_config(stanford))
    assert data.breeds == ("beagle", "chihuahua", "shih_tzu")  # alphabetical by cleaned name
    assert data.source["usable_images"] == {"beagle": 22, "chihuahua": 30, "shih_tzu": 24}
    assert data.source["skipped_files"] == 0
    counts = data.realised_counts()
    assert counts["judge_train"] == {"beagle": 6, "chihuahua": 6, "shih_tzu": 6}
    assert counts["judge_eval"] == {"beagle": 3, "chihuahua": 3, "shih_tzu": 3}
    assert counts["pool"] == counts["reference"] == {"beagle": 5, "chihuahua": 2, "shih_tzu": 1}  # 5 * 5^(-i/2)
    assert data.pool.images.shape[1:] == (3, 16, 16) and data.pool.images.dtype == torch.uint8
    # Every photo is unique noise, so an image in two splits would show up as a repeated row of bytes.
    rows = torch.cat([s.images.flatten(1) for s in data.splits.values()])
    assert len({row.numpy().tobytes() for row in rows}) == len(rows)
    # The allocation follows the data, not the run seed.
    again = build_real_data(load_config(None, ["seed=5", "data.name=folder", f"data.root={stanford}",
                                               *SMALL_SPLITS]).data)
    for name in data.splits:
        assert torch.equal(again.splits[name].images, data.splits[name].images)


def test_root_may_be_the_images_folder_itself_and_breeds_pick_a_subset_and_order(stanford):
    data = build_real_data(folder_config(stanford / "Images", "data.breeds=[shih_tzu,beagle]"))
    assert data.breeds == ("shih_tzu", "beagle")
    assert data.realised_counts()["pool"] == {"shih_tzu": 5, "beagle": 1}


def test_imagewoof_layout_merges_train_and_val_under_breed_names(tmp_path):
    root = imagewoof(tmp_path / "imagewoof2-320", {"n02088364": (14, 6), "n02093754": (10, 4), "n02099601": (9, 6)})
    data = build_real_data(folder_config(root))
    assert data.breeds == ("beagle", "border_terrier", "golden_retriever")
    assert data.source["usable_images"] == {"beagle": 20, "border_terrier": 14, "golden_retriever": 15}


def test_a_breed_with_too_few_photos_names_the_counts_and_the_keys_to_lower(stanford, monkeypatch):
    decoded = []
    monkeypatch.setattr(photo_cache, "decode_photo", lambda *a: decoded.append(a))
    with pytest.raises(ConfigError) as caught:
        build_real_data(folder_config(stanford, "data.breeds=[beagle,chihuahua]", "data.judge_train_per_breed=10",
                                      "data.imbalance.max_count=5"))
    message = str(caught.value)
    assert "breed 'beagle' has 22 files but the splits need 23" in message
    assert decoded == []  # found out from the file counts, before any decoding
    assert "judge_train 10 + judge_eval 3 + reference 5 + pool 5" in message
    for key in ("data.judge_train_per_breed", "data.eval_per_breed", "data.imbalance.max_count"):
        assert key in message


def test_the_cache_is_reused_and_rebuilt_when_files_or_settings_change(stanford, monkeypatch):
    decoded = []
    real_decode = photo_cache.decode_photo
    monkeypatch.setattr(photo_cache, "decode_photo",
                        lambda path, *a: decoded.append(path.parent.name) or real_decode(path, *a))
    first = build_real_data(folder_config(stanford))
    assert len(decoded) == sum(STANFORD.values())
    cached = list(photo_cache.cache_folder(stanford, 16, 8).glob("*.safetensors"))
    assert sorted(p.stem for p in cached) == ["beagle", "chihuahua", "shih_tzu"]

    decoded.clear()
    again = build_real_data(folder_config(stanford))  # same files and settings: nothing decoded
    assert decoded == []
    assert torch.equal(again.pool.images, first.pool.images)

    build_real_data(folder_config(stanford, "data.resolution=12"))  # another resolution: everything again
    assert len(decoded) == sum(STANFORD.values())

    decoded.clear()
    write_breed(stanford / "Images" / "n02088364-beagle", 23, 2)  # one more beagle photo
    changed = build_real_data(folder_config(stanford))
    assert set(decoded) == {"n02088364-beagle"} and len(decoded) == 23  # only the changed breed
    assert changed.source["usable_images"]["beagle"] == 23

    decoded.clear()
    (photo_cache.cache_folder(stanford, 16, 8) / "shih_tzu.safetensors").write_bytes(b"\x10" + b"\0" * 7 + b"{}garbage")
    build_real_data(folder_config(stanford))  # a damaged cache file is rebuilt, not trusted
    assert set(decoded) == {"n02086240-Shih-Tzu"}

    decoded.clear()
    chihuahua = next((stanford / "Images" / "n02085620-Chihuahua").iterdir())
    os.utime(chihuahua, ns=(0, 0))  # a changed modification time counts as a changed file
    build_real_data(folder_config(stanford))
    assert set(decoded) == {"n02085620-Chihuahua"}


def test_run_on_a_photo_folder_end_to_end(tmp_path, tiny_overrides, capsys):
    root = stanford_dogs(tmp_path / "dogs",
                         {"n02085620-Chihuahua": 60, "n02086240-Shih-Tzu": 45, "n02088364-beagle": 40})
    (root / "Images" / "n02088364-beagle" / "notes.txt").write_text("not a photo")
    overrides = [o for o in tiny_overrides if not o.startswith("data.")]
    overrides += ["data.name=folder", f"data.root={root}", "data.resolution=16",
                  "data.breeds=[chihuahua,shih_tzu,beagle]", "data.judge_train_per_breed=20", "data.eval_per_breed=8",
                  "data.imbalance.max_count=16", "data.imbalance.ratio=4", "judge.epochs=4", "judge.batch_size=16"]
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), *overrides]) == 0
    with open(out / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["generation"]) for r in rows] == [0, 1, 2]
    assert {"share_chihuahua", "share_shih_tzu", "share_beagle"} <= set(rows[0])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data"]["split_counts"]["pool"] == {"chihuahua": 16, "shih_tzu": 8, "beagle": 4}
    assert manifest["data"]["split_counts"]["judge_train"] == {"chihuahua": 20, "shih_tzu": 20, "beagle": 20}
    assert manifest["data"]["skipped_files"] == 1 and manifest["data"]["skipped"][0]["path"].endswith("notes.txt")
    assert "notes.txt" in (out / "log.txt").read_text()
    judge = json.loads((out / "judge" / "judge.json").read_text())
    assert judge["breeds"] == ["chihuahua", "shih_tzu", "beagle"]
    # The breeds differ in colour: a judge that learnt from correctly labelled photos tells them apart.
    assert judge["accuracy"] >= 0.9 and len(judge["confusion"]) == 3
    assert [sum(row) for row in judge["confusion"]] == [8, 8, 8]  # every held-out photo counted once, by true breed
    assert (out / "report" / "index.html").is_file()


def test_missing_root_and_empty_breed_exit_2_with_a_clear_message(tmp_path, tiny_overrides, capsys):
    overrides = [o for o in tiny_overrides if not o.startswith("data.breeds")] + ["data.name=folder"]
    assert main(["run", "--out", str(tmp_path / "a"), *overrides, f"data.root={tmp_path / 'nowhere'}"]) == 2
    error = capsys.readouterr().err
    assert f"no folder {tmp_path / 'nowhere'}" in error and "scripts/download_stanford_dogs.py" in error
    assert "Traceback" not in error

    root = stanford_dogs(tmp_path / "dogs", {"n02085620-Chihuahua": 3})
    (root / "Images" / "n02088364-beagle").mkdir()
    assert main(["run", "--out", str(tmp_path / "b"), *overrides, f"data.root={root}"]) == 2
    assert "breed 'beagle' has no image files" in capsys.readouterr().err

    assert main(["run", "--out", str(tmp_path / "c"), *overrides]) == 2
    assert "data.root: data.name=folder reads photos from disk" in capsys.readouterr().err


def test_download_is_refused_outside_oxford_pets(stanford):
    with pytest.raises(ConfigError,
                       match="data.download: only data.name=oxford_pets downloads; .*download_stanford_dogs"):
        build_real_data(folder_config(stanford, "data.download=true"))
