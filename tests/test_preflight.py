"""What can be checked before generation 1 is checked before the run starts, and no run folder is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from imagelab.cli import main
from imagelab.config import load_config
from imagelab.errors import ConfigError, DataError
from imagelab.preflight import check_before_run, check_judge_model
from tests.photo_folders import stanford_dogs


def refused(out: Path, overrides: list[str], capsys) -> str:
    """Run with ``overrides``; assert exit status 2, no traceback and no run folder; return the message."""
    assert main(["run", "--out", str(out), "device=cpu", *overrides]) == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error and not out.exists()
    return error


def test_an_unknown_judge_model_exits_2_with_close_matches_before_any_folder(tmp_path, capsys):
    error = refused(tmp_path / "run", ["judge.model=resnet1"], capsys)
    assert "judge.model: unknown timm model 'resnet1'; close matches: resnet18" in error
    error = refused(tmp_path / "run", ["judge.model=not_a_timm_model_xyz"], capsys)
    assert "unknown timm model 'not_a_timm_model_xyz'" in error


def test_timm_names_with_a_pretrained_tag_pass_and_hub_names_are_refused():
    check_judge_model("test_resnet")
    check_judge_model("resnet18.a1_in1k")
    with pytest.raises(ConfigError, match="judge.model: 'hf-hub:timm/resnet18' names a model on a hub"):
        check_judge_model("hf-hub:timm/resnet18")


def test_missing_local_files_and_unknown_breeds_exit_2_before_any_folder(tmp_path, capsys):
    error = refused(tmp_path / "a", ["data.name=folder", f"data.root={tmp_path / 'nowhere'}"], capsys)
    assert f"data.root: no folder {tmp_path / 'nowhere'}" in error
    (tmp_path / "empty").mkdir()
    error = refused(tmp_path / "b", ["data.name=folder", f"data.root={tmp_path / 'empty'}"], capsys)
    assert "holds no breed folders" in error
    error = refused(tmp_path / "c", ["data.name=oxford_pets", f"data.root={tmp_path}"], capsys)
    assert "no Oxford-IIIT Pet copy" in error
    error = refused(tmp_path / "d", [f"judge.pretrained={tmp_path / 'resnet.safetensors'}"], capsys)
    assert f"judge.pretrained: no weights file {tmp_path / 'resnet.safetensors'}" in error
    error = refused(tmp_path / "e", ["data.breeds=[golden_retriever,no_such_breed]"], capsys)
    assert "data.breeds: unknown breed 'no_such_breed'" in error
    dogs = stanford_dogs(tmp_path / "dogs", {"n02085620-Chihuahua": 1})
    error = refused(tmp_path / "f", ["data.name=folder", f"data.root={dogs}", "data.breeds=[beagle]"], capsys)
    assert "data.breeds: unknown breed 'beagle'; available: chihuahua" in error


def test_relative_paths_become_absolute_and_the_input_config_is_unchanged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stanford_dogs(tmp_path / "dogs", {"n02085620-Chihuahua": 2})
    (tmp_path / "weights.safetensors").write_bytes(b"")
    config = load_config(None, ["data.name=folder", "data.root=dogs", "judge.pretrained=weights.safetensors"])
    checked = check_before_run(config)
    assert checked.data.root == str(tmp_path / "dogs")
    assert checked.judge.pretrained == str(tmp_path / "weights.safetensors")
    assert config.data.root == "dogs" and checked.generator is config.generator  # untouched sections are shared
    with pytest.raises(DataError, match="no folder"):
        check_before_run(load_config(None, ["data.name=folder", "data.root=~/imagelab_no_such_folder_xyz"]))


def test_a_run_stores_data_root_absolute_and_resumes_a_folder_that_stored_it_relative(tmp_path, tiny_overrides,
                                                                                      monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    stanford_dogs(tmp_path / "dogs", {"n02085620-Chihuahua": 30, "n02086240-Shih-Tzu": 30})
    overrides = [o for o in tiny_overrides if not o.startswith(("data.", "generator.", "loop.generations"))]
    overrides += ["data.name=folder", "data.root=dogs", "data.resolution=16", "data.judge_train_per_breed=8",
                  "data.eval_per_breed=4", "data.imbalance.max_count=8", "data.imbalance.ratio=2",
                  "generator.name=resample", "loop.generations=1"]
    assert main(["run", "--out", "run", *overrides]) == 0
    config_file = tmp_path / "run" / "config.yaml"
    stored = yaml.safe_load(config_file.read_text())
    assert stored["data"]["root"] == str(tmp_path / "dogs")

    # A folder written before paths were stored absolute: the same relative path, read from the same place.
    stored["data"]["root"] = "dogs"
    config_file.write_text(yaml.safe_dump(stored, sort_keys=False))
    assert main(["run", "--out", "run", *overrides]) == 0, capsys.readouterr().err
    assert yaml.safe_load(config_file.read_text())["data"]["root"] == str(tmp_path / "dogs")

    # From another working directory, data.root=dogs is another folder: refused, naming both.
    monkeypatch.chdir(tmp_path / "dogs")
    stanford_dogs(tmp_path / "dogs" / "dogs", {"n02085620-Chihuahua": 1, "n02086240-Shih-Tzu": 1})
    assert main(["run", "--out", str(tmp_path / "run"), *overrides]) == 2
    assert f"data.root: '{tmp_path / 'dogs'}' -> '{tmp_path / 'dogs' / 'dogs'}'" in capsys.readouterr().err
