"""Split sizes that fit the data: left out on a photo dataset, they are derived from the breeds' photo counts."""

from __future__ import annotations

import json

import pytest

from imagelab.cli import main
from imagelab.config import load_config
from imagelab.data.split_sizes import RENDERED_SIZES, plan_split_sizes
from imagelab.errors import ConfigError
from tests.photo_folders import write_breed

BREEDS = ["akita", "beagle", "corgi"]


def photo_config(*overrides):
    return load_config(None, ["data.name=folder", "data.root=unused", *overrides]).data


def test_toy_dogs_keep_their_fixed_sizes_and_photos_leave_them_to_be_derived():
    toy = load_config().data
    assert (toy.judge_train_per_breed, toy.eval_per_breed, toy.imbalance.max_count) == (300, 1000, 1000)
    assert RENDERED_SIZES == {"judge_train_per_breed": 300, "eval_per_breed": 1000, "max_count": 1000}
    photos = photo_config()
    assert (photos.judge_train_per_breed, photos.eval_per_breed, photos.imbalance.max_count) == (None, None, None)
    assert photo_config("data.eval_per_breed=7").eval_per_breed == 7


def test_equal_breeds_get_30_20_25_and_25_percent():
    plan = plan_split_sizes(photo_config(), BREEDS, [40, 40, 40])
    assert (plan.judge_train_per_breed, plan.eval_per_breed, plan.max_count) == (12, 8, 10)
    assert plan.pool_counts == [10, 1, 1]  # the default exponential profile, ratio 100
    assert plan.record() == {"judge_train_per_breed": 12, "eval_per_breed": 8, "max_count": 10,
                             "derived": ["data.judge_train_per_breed", "data.eval_per_breed",
                                         "data.imbalance.max_count"],
                             "smallest_breed": {"breed": "akita", "usable_images": 40}}


def test_the_pool_takes_the_imbalance_within_what_each_breed_has_left():
    plan = plan_split_sizes(photo_config("data.imbalance.ratio=4"), BREEDS, [60, 45, 40])
    # Judge splits from the smallest breed (40): 12 + 8. Left: 40, 25, 20, half each for pool and reference.
    assert (plan.judge_train_per_breed, plan.eval_per_breed) == (12, 8)
    assert plan.pool_counts == [20, 10, 5]  # 20 * 4^(-i/2); the first breed's 20 is its whole half
    # The same photos in another breed order: the smallest breed comes first and caps the pool.
    assert plan_split_sizes(photo_config("data.imbalance.ratio=4"), BREEDS[::-1], [40, 45, 60]).pool_counts == [
        10, 5, 2]
    # With fresh real data each generation, reservoir blocks share what is left too (4 pool-sized sets).
    assert plan_split_sizes(photo_config("data.imbalance.ratio=4"), BREEDS, [60, 45, 40], 4).pool_counts == [
        10, 5, 2]


def test_sizes_the_user_sets_are_kept():
    plan = plan_split_sizes(photo_config("data.judge_train_per_breed=5", "data.imbalance.profile=none"), BREEDS,
                            [40, 40, 40])
    assert plan.judge_train_per_breed == 5 and plan.eval_per_breed == 8
    assert plan.pool_counts == [13, 13, 13]  # (40 - 5 - 8) // 2
    assert plan.derived == ("data.eval_per_breed", "data.imbalance.max_count")
    counts = plan_split_sizes(photo_config("data.imbalance.profile=counts", "data.imbalance.counts=[9,4,2]"), BREEDS,
                              [40, 40, 40])
    assert counts.pool_counts == [9, 4, 2] and counts.max_count is None
    assert "data.imbalance.max_count" not in counts.derived


def test_too_few_photos_name_the_breed_and_what_to_do():
    with pytest.raises(ConfigError, match="breed 'akita' has 3 usable images: .* add photos"):
        plan_split_sizes(photo_config(), BREEDS, [3, 40, 40])


def test_a_folder_of_40_photos_per_breed_runs_with_the_default_split_settings(tmp_path, tiny_overrides):
    root = tmp_path / "dogs"
    for index, breed in enumerate(BREEDS):
        write_breed(root / breed, 40, index)
    # Tiny judge, generator and grids; no data.* setting but the resolution.
    overrides = [o for o in tiny_overrides if not o.startswith("data.")] + ["loop.generations=1",
                                                                           "data.resolution=16"]
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), "data.name=folder", f"data.root={root}", *overrides]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    sizes = manifest["data"]["split_sizes"]
    assert (sizes["judge_train_per_breed"], sizes["eval_per_breed"], sizes["max_count"]) == (12, 8, 10)
    assert sizes["smallest_breed"] == {"breed": "akita", "usable_images": 40}
    assert len(sizes["derived"]) == 3
    counts = manifest["data"]["split_counts"]
    assert counts["judge_train"] == dict.fromkeys(BREEDS, 12) and counts["judge_eval"] == dict.fromkeys(BREEDS, 8)
    assert counts["pool"] == counts["reference"] == {"akita": 10, "beagle": 1, "corgi": 1}
    assert "data.judge_train_per_breed=12" in (out / "log.txt").read_text()
    assert (out / "metrics.csv").read_text().count("\n") == 3  # header, generations 0 and 1
