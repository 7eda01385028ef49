"""Starting the judge from local pretrained weights (``judge.pretrained``), never from a model hub.

Real photos are much harder to tell apart than the toy dogs, and a judge trained from
scratch on a few hundred photos per breed is a weak instrument. ``judge.pretrained``
names a weights file for the same timm architecture (``judge.model``), saved on a
connected machine, for example::

    python -c "import timm, safetensors.torch as st; m = timm.create_model('resnet18', pretrained=True); \\
               st.save_file(m.state_dict(), 'resnet18.safetensors')"

Everything but the classifier is loaded; the classifier is new (one output per breed)
and the whole network is then trained on the judge's split as usual. ``.safetensors``
files are read with safetensors, anything else with ``torch.load(weights_only=True)``:
no pickled code is ever run.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from imagelab.errors import ConfigError

HOW_TO_GET = ("save the timm weights on a connected machine, e.g. python -c \"import timm, safetensors.torch as st; "
              "st.save_file(timm.create_model('MODEL', pretrained=True).state_dict(), 'MODEL.safetensors')\", "
              "and copy the file here, or remove judge.pretrained to train from scratch")


def pretrained_path(value: str, model: str) -> Path:
    """``judge.pretrained`` as an existing file, or a ConfigError saying how to get one."""
    path = Path(value).expanduser()
    if not path.is_file():
        raise ConfigError("judge.pretrained", f"no weights file {path}; {HOW_TO_GET.replace('MODEL', model)}")
    return path


def load_pretrained(model: torch.nn.Module, value: str, model_name: str) -> None:
    """Load the weights at ``value`` into ``model``, all but its classifier (which keeps its fresh init)."""
    path = pretrained_path(value, model_name)
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001  both loaders raise several types for a damaged or foreign file
        raise ConfigError("judge.pretrained",
                          f"cannot read {path} as weights: {type(error).__name__}: {error}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict", state.get("model")), dict):
        state = state.get("state_dict", state.get("model"))  # training checkpoints nest the weights
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError("judge.pretrained", f"{path} does not hold a state dict of tensors")
    classifier = {f"{_classifier_prefix(model)}.{name}" for name, _ in model.get_classifier().named_parameters()}
    state = {k: v for k, v in state.items() if k not in classifier}
    own = model.state_dict()
    missing = sorted(set(own) - set(state) - classifier)
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(k for k in set(state) & set(own) if state[k].shape != own[k].shape)
    if missing or unexpected or mismatched:
        problems = [f"{label} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched))
                    if keys]
        raise ConfigError("judge.pretrained", f"{path} does not fit timm model '{model_name}' ({'; '.join(problems)}); "
                                              f"give weights of judge.model's architecture")
    model.load_state_dict(state, strict=False)


def _classifier_prefix(model: torch.nn.Module) -> str:
    """The state-dict prefix of the model's classifier module (``fc``, ``head.fc``, ...)."""
    classifier = model.get_classifier()
    for name, module in model.named_modules():
        if module is classifier:
            return name
    raise ConfigError("judge.model", "has no classifier module that pretrained weights could leave out")
