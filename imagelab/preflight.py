"""What a run checks before it starts, before its folder is written: all that needs no data and no training.

``lab.run_in_folder`` calls ``check_before_run`` first, so a config that could only fail
later (the judge's model at judge training, a missing folder at data loading) exits with
status 2 and one message, and no run folder appears. The checks are cheap: names and
paths are looked at, no model is built, no image is read.

- ``judge.model`` names a timm architecture (a pretrained tag such as ``resnet18.a1_in1k``
  is allowed); an unknown name gets the close matches from ``timm.list_models()``;
- the dataset's source is there and has the breeds ``data.breeds`` names
  (``Dataset.check_source``: data.root for photo folders), and ``judge.pretrained`` is
  there when set (``eval.inception_weights`` is checked when the
  config is read);
- the generator's own check of ``data.resolution`` (``Generator.check_data``: a saved
  diffusers pipeline's UNet size and channels), and the packages of the ``log_with`` trackers;
- every local path (a field declared with ``config_fields.local_path``, in any section,
  plugin sections included) is made absolute, so the run's config.yaml names the same
  file from any working directory, and a resume resolves a stored relative path the same way.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from typing import Any

import timm

from imagelab.config import RunConfig
from imagelab.config_fields import is_local_path
from imagelab.data import DATASETS
from imagelab.errors import ConfigError
from imagelab.generators import GENERATORS
from imagelab.judge.pretrained import pretrained_path
from imagelab.runtime.trackers import require_tracker_packages

CLOSE_MATCHES = 5  # model names suggested for an unknown judge.model


def check_before_run(config: RunConfig) -> RunConfig:
    """``config`` with its local paths absolute, once every check that needs no data or training has passed.

    Raises ConfigError or DataError (exit status 2) naming the key and the fix.
    """
    config = with_absolute_paths(config)
    check_judge_model(config.judge.model)
    DATASETS.get(config.data.name).check_source(config.data)
    if config.judge.pretrained is not None:
        pretrained_path(config.judge.pretrained, config.judge.model)
    # The generator's own check of data.resolution (e.g. a saved pipeline's UNet size).
    GENERATORS.get(config.generator.name).check_data(config.generator, config.data.resolution)
    require_tracker_packages(config.log_with)
    return config


def check_judge_model(name: str) -> None:
    """Refuse a ``judge.model`` that timm cannot build offline, suggesting the closest model names."""
    if ":" in name or "/" in name:
        raise ConfigError("judge.model", f"'{name}' names a model on a hub; imagelab builds the judge from a timm "
                                         "architecture name and never downloads: give a name from "
                                         "timm.list_models(), and pretrained weights as a local file in "
                                         "judge.pretrained")
    if timm.is_model(name):  # accepts an architecture's pretrained tag: resnet18.a1_in1k
        return
    close = difflib.get_close_matches(name.partition(".")[0], timm.list_models(), n=CLOSE_MATCHES)
    hint = f"close matches: {', '.join(close)}" if close else "no timm model has a similar name"
    raise ConfigError("judge.model", f"unknown timm model '{name}'; {hint} (every name of timm.list_models() "
                                     "works; the default is test_resnet)")


def with_absolute_paths(config: Any) -> Any:
    """A copy of the config dataclass ``config`` whose ``local_path`` fields hold absolute paths (~ expanded).

    Sections without a relative path are shared with ``config``, which is never changed.
    """
    changes = {}
    for spec in dataclasses.fields(config):
        value = getattr(config, spec.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            section = with_absolute_paths(value)
            if section is not value:
                changes[spec.name] = section
        elif is_local_path(spec) and isinstance(value, str) and value != absolute_path(value):
            changes[spec.name] = absolute_path(value)
    return dataclasses.replace(config, **changes) if changes else config


def absolute_path(path: str) -> str:
    """``path`` with ~ expanded, made absolute against the working directory (symlinks kept as named)."""
    return os.path.abspath(os.path.expanduser(path))
