"""The judge is trained once per (data, judge settings) and reused from a cache.

The cache lives in ``$IMAGELAB_CACHE`` (default ``~/.cache/imagelab``), under
``judges/<key>/``, where the key hashes everything the judge's training depends on:
the data identity (dataset, root, resolution, breeds, split sizes) and the judge
config. Imbalance settings and the run seed do not enter: every run on the same
data is judged by the same instrument.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from pathlib import Path

import torch

from imagelab.data.splits import RealData
from imagelab.judge.model import Judge
from imagelab.judge.pretrained import pretrained_path
from imagelab.runs.atomic import atomic_directory
from imagelab.runtime.cache import CACHE_ENV, building, cache_root

log = logging.getLogger("imagelab")

JUDGE_SEED = 0  # the judge is a fixed instrument: it does not follow the run seed
CACHE_FORMAT = 3  # bump when the judge's training code or the toydogs renderer changes what a cached judge means


def judge_key(config, data_identity: dict | None = None) -> str:
    """Hash of what the judge's training depends on (``config`` is the RunConfig; ``data_identity`` the
    dataset's own, e.g. its file list, see ``RealData.identity``)."""
    data = config.data
    identity = {
        "format": CACHE_FORMAT,
        "data": {"name": data.name, "root": data.root, "resolution": data.resolution, "breeds": data.breeds,
                 "judge_train_per_breed": data.judge_train_per_breed, "eval_per_breed": data.eval_per_breed},
        "judge": dataclasses.asdict(config.judge),
    }
    if data_identity:
        identity["source"] = data_identity
    if config.judge.pretrained:
        stat = pretrained_path(config.judge.pretrained, config.judge.model).stat()
        identity["pretrained_file"] = [stat.st_size, stat.st_mtime_ns]
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def obtain_judge(config, data: RealData, device: torch.device, run_judge_dir: Path) -> tuple[Judge, str]:
    """The run's judge: from the run folder, else the cache, else trained now (and cached).

    Returns the judge and where it came from ("run folder", "cache" or "trained").
    """
    if (run_judge_dir / "judge.json").exists():
        return Judge.load(run_judge_dir, device), "run folder"
    cached = cache_root() / "judges" / judge_key(config, data.identity)
    # Runs started together (imagelab sweep --jobs) train a missing judge once: the others wait, then load it.
    with building(cached, "training this judge"):
        if (cached / "judge.json").exists():
            judge, origin = Judge.load(cached, device), "cache"
        else:
            judge = Judge.train(config.judge, data.judge_train, data.judge_eval, data.breeds, device,
                                seed=JUDGE_SEED)
            origin = "trained"
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                with atomic_directory(cached) as temp:
                    judge.save(temp)
            except OSError as error:  # an unwritable cache only costs time: the run folder keeps its judge
                log.warning(f"could not cache the judge in {cached}: {error}; "
                            f"set {CACHE_ENV} to a writable folder")
    with atomic_directory(run_judge_dir) as temp:
        if origin == "cache":
            shutil.copytree(cached, temp, dirs_exist_ok=True)
        else:
            judge.save(temp)
    return judge, origin
