"""The judge trains for enough optimiser steps, and a weak one is named in the log, the manifest and the report."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

from imagelab.cli import main
from imagelab.config import load_config
from imagelab.judge.adequacy import MAX_REAL_UNRECOGNIZED, accuracy_floor, judge_warnings
from imagelab.judge.cache import judge_key
from imagelab.judge.calibration import clopper_pearson_lower
from imagelab.judge.config import JudgeConfig
from imagelab.judge.training import training_schedule


def test_the_default_judge_trains_as_before_and_a_small_split_gets_min_steps():
    default = JudgeConfig()
    # The toy dogs' 10 x 300 images in batches of 128: 23 steps an epoch, 6 epochs, as before min_steps.
    toy = training_schedule(default, 3000)
    assert (toy.epochs, toy.steps_per_epoch, toy.steps) == (default.epochs, 3000 // 128, 138)
    assert toy.steps >= default.min_steps
    # 4 breeds x 20 photos fill less than one batch: six epochs would be six steps.
    small = training_schedule(default, 80)
    assert (small.epochs, small.steps_per_epoch, small.real_per_batch) == (default.min_steps, 1, 80)
    assert training_schedule(replace(default, batch_size=16), 80).steps == default.min_steps  # 5 an epoch, 24 epochs
    assert training_schedule(replace(default, min_steps=0), 80).steps == default.epochs


def test_min_steps_enters_the_judge_cache_key():
    config = load_config()
    other = load_config(None, ["judge.min_steps=200"])
    assert judge_key(config) != judge_key(other)
    assert judge_key(config) == judge_key(load_config())


def weak_judge(accuracy: float, breeds: int = 4, **config):
    return SimpleNamespace(accuracy=accuracy, breeds=tuple(f"b{i}" for i in range(breeds)),
                           config=JudgeConfig(**config), training={"epochs": 6, "steps": 6})


def test_accuracy_floor_is_half_way_from_chance_to_perfect():
    assert accuracy_floor(2) == 0.75 and accuracy_floor(4) == 0.625 and abs(accuracy_floor(10) - 0.55) < 1e-12


def test_clopper_pearson_lower_bound():
    assert abs(clopper_pearson_lower(14, 14) - 0.05 ** (1 / 14)) < 1e-9  # all n: P(X = n) = p^n = 0.05
    assert clopper_pearson_lower(0, 14) == 0.0
    assert 0.0 < clopper_pearson_lower(3, 100) < 0.03


def test_warnings_name_what_is_weak_and_the_settings_to_raise():
    assert judge_warnings(weak_judge(0.96), 0.01, 2480, 300) == []
    assert judge_warnings(weak_judge(0.63), MAX_REAL_UNRECOGNIZED, 2480, 300) == []  # both just inside
    # On a small pool one image is several percent: 1 of 14 is no evidence of a judge rejecting real
    # images beyond its 0.5%, 2 of 14 are.
    assert judge_warnings(weak_judge(0.96), 1 / 14, 14, 300) == []
    assert [w["check"] for w in judge_warnings(weak_judge(0.96), 2 / 14, 14, 300)] == ["real_unrecognized"]
    warnings = judge_warnings(weak_judge(0.225), 1.0, 14, 20)
    assert [w["check"] for w in warnings] == ["judge_accuracy", "real_unrecognized"]
    accuracy, unrecognized = (w["message"] for w in warnings)
    assert "held-out accuracy 22.5% for 4 breeds (chance 25.0%, warning below 62.5%)" in accuracy
    assert "100.0% of the real pool (generation 0, 14 of 14 images) unrecognized (warning above 5%)" in unrecognized
    for message in (accuracy, unrecognized):
        assert "20 images per breed in 6 optimiser steps (6 epochs)" in message
        for key in ("data.judge_train_per_breed", "judge.epochs (now 6)", "judge.min_steps (now 120)"):
            assert key in message
    fixed = judge_warnings(weak_judge(0.9, confidence_threshold=0.99), 0.2, 2480, 300)
    assert [w["check"] for w in fixed] == ["real_unrecognized"]
    assert "judge.confidence_threshold (now 0.99)" in fixed[0]["message"]


def test_a_weak_judge_is_warned_about_in_log_manifest_and_report(tmp_path, tiny_overrides, capsys):
    # The tiny settings train the judge for one optimiser step: a judge that recognizes nothing.
    out = tmp_path / "run"
    command = ["run", "--out", str(out), *tiny_overrides, "loop.generations=0"]
    assert main(command) == 0
    assert "the judge is weak" in capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    checks = [w["check"] for w in manifest["warnings"]]
    assert checks == ["judge_accuracy", "real_unrecognized"]
    log = (out / "log.txt").read_text()
    page = (out / "report" / "index.html").read_text()
    assert 'id="warnings"' in page
    for warning in manifest["warnings"]:
        assert warning["message"] in log
        assert warning["message"] in page  # no character in it that HTML escapes
    # Resuming records them once, not twice.
    assert main(command) == 0
    assert json.loads((out / "manifest.json").read_text())["warnings"] == manifest["warnings"]
