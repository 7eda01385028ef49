"""data.name=oxford_pets: torchvision's layout read from a local copy, dog breeds only, no download."""

from __future__ import annotations

import pytest

from imagelab.cli import main
from imagelab.config import load_config
from imagelab.data import build_real_data
from imagelab.data.oxford_pets import DOG_BREEDS
from imagelab.errors import ConfigError
from tests.photo_folders import photo

SPLITS = ["data.resolution=16", "data.judge_train_per_breed=3", "data.eval_per_breed=2",
          "data.imbalance.max_count=4", "data.imbalance.ratio=4"]


def fake_oxford_pets(root, breeds: dict[str, tuple[int, int]]):
    """``root/oxford-iiit-pet/images/<Breed>_<i>.jpg`` + annotations/{trainval,test}.txt as torchvision reads them.

    ``breeds``: file-name breed -> (trainval images, test images); capitalised names are cats (species 1).
    """
    base = root / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True)
    (base / "annotations").mkdir()
    lines = {"trainval": [], "test": []}
    for class_id, (breed, (trainval, test)) in enumerate(breeds.items(), start=1):
        species = 1 if breed[0].isupper() else 2
        for i in range(trainval + test):
            image_id = f"{breed}_{i + 1}"
            photo(class_id * 1000 + i, (40 * class_id % 255, 90, 160),
                  (30, 26)).save(base / "images" / f"{image_id}.jpg")
            split = "trainval" if i < trainval else "test"
            lines[split].append(f"{image_id} {class_id} {species} {i + 1}")
    for split, rows in lines.items():
        (base / "annotations" / f"{split}.txt").write_text("\n".join(rows) + "\n")
    return root


def test_dog_breeds_from_both_splits_and_no_cats(tmp_path):
    root = fake_oxford_pets(tmp_path, {"Abyssinian": (8, 4), "american_bulldog": (9, 5), "beagle": (10, 5),
                                       "Bengal": (6, 6), "shiba_inu": (8, 6)})
    data = build_real_data(load_config(None, ["data.name=oxford_pets", f"data.root={root}", *SPLITS,
                                              "data.breeds=[beagle,american_bulldog,shiba_inu]"]).data)
    assert data.breeds == ("beagle", "american_bulldog", "shiba_inu")
    assert data.source["usable_images"] == {"beagle": 15, "american_bulldog": 14, "shiba_inu": 14}
    assert data.realised_counts()["pool"] == {"beagle": 4, "american_bulldog": 2, "shiba_inu": 1}
    # data.root may also be the oxford-iiit-pet folder itself.
    inner = load_config(None, ["data.name=oxford_pets", f"data.root={root / 'oxford-iiit-pet'}", *SPLITS,
                               "data.breeds=[beagle]"]).data
    assert build_real_data(inner).source["usable_images"] == {"beagle": 15}


def test_the_dataset_offers_the_25_dog_breeds():
    assert len(DOG_BREEDS) == len(set(DOG_BREEDS)) == 25


def test_cat_breeds_are_not_breeds(tmp_path):
    root = fake_oxford_pets(tmp_path, {"Abyssinian": (8, 4), "beagle": (10, 5)})
    with pytest.raises(ConfigError, match="unknown breed 'abyssinian'"):
        build_real_data(load_config(None, ["data.name=oxford_pets", f"data.root={root}", *SPLITS,
                                           "data.breeds=[abyssinian]"]).data)


def test_a_missing_copy_exits_2_saying_how_to_get_it(tmp_path, tiny_overrides, capsys):
    overrides = [o for o in tiny_overrides if not o.startswith("data.breeds")]
    code = main(["run", "--out", str(tmp_path / "run"), *overrides, "data.name=oxford_pets", f"data.root={tmp_path}"])
    error = capsys.readouterr().err
    assert code == 2 and "no Oxford-IIIT Pet copy" in error and "data.download=true" in error
    assert "Traceback" not in error
