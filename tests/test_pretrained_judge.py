"""judge.pretrained: local weights (safetensors or a weights-only torch file), never a hub; clear errors otherwise."""

from __future__ import annotations

import pytest
import timm
import torch
from safetensors.torch import save_file

from imagelab.cli import main
from imagelab.errors import ConfigError
from imagelab.judge.pretrained import load_pretrained


def donor_state(num_classes: int = 1000) -> dict[str, torch.Tensor]:
    """Weights of test_resnet as a hub checkpoint would hold them: its own classifier size, other values."""
    torch.manual_seed(123)
    return {k: v.clone() for k, v in timm.create_model("test_resnet", num_classes=num_classes).state_dict().items()}


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_everything_but_the_classifier_is_loaded(tmp_path, suffix):
    state = donor_state()
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save({"state_dict": state}, path)  # a training checkpoint nests its weights
    model = timm.create_model("test_resnet", num_classes=3)
    fresh_classifier = model.get_classifier().weight.detach().clone()
    load_pretrained(model, str(path), "test_resnet")
    loaded = model.state_dict()
    backbone = [k for k in loaded if not k.startswith("fc.")]
    assert backbone and all(torch.equal(loaded[k], state[k]) for k in backbone)
    assert torch.equal(model.get_classifier().weight, fresh_classifier)  # 3 breeds, not ImageNet's 1000 classes


def test_a_file_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model("test_vit", num_classes=5).state_dict().items()},
              str(path))
    with pytest.raises(ConfigError, match=r"judge\.pretrained: .*does not fit timm model 'test_resnet'"):
        load_pretrained(timm.create_model("test_resnet", num_classes=3), str(path), "test_resnet")


def test_a_pickle_with_code_is_not_run(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"fc.weight": torch.zeros(1), "hook": print}, path)  # a function is not a weights-only object
    with pytest.raises(ConfigError, match=r"cannot read .*evil\.pth as weights"):
        load_pretrained(timm.create_model("test_resnet", num_classes=3), str(path), "test_resnet")


def test_a_missing_weights_file_exits_2_naming_it_and_how_to_get_it(tmp_path, tiny_overrides, capsys):
    missing = tmp_path / "resnet18.safetensors"
    code = main(["run", "--out", str(tmp_path / "run"), *tiny_overrides, f"judge.pretrained={missing}"])
    error = capsys.readouterr().err
    assert code == 2 and f"judge.pretrained: no weights file {missing}" in error
    assert "pretrained=True" in error and "Traceback" not in error


def test_a_run_starts_its_judge_from_the_weights_file(tmp_path, tiny_overrides):
    path = tmp_path / "test_resnet.safetensors"
    save_file(donor_state(), str(path))
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), *tiny_overrides, "loop.generations=0", f"judge.pretrained={path}"]) == 0
    import json

    assert json.loads((out / "judge" / "judge.json").read_text())["config"]["pretrained"] == str(path)
