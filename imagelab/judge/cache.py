"""The judge is trained once per (data, judge settings) and reused from a cache.

The cache lives in ``$IMAGELAB_CACHE`` (default ``~/.cache/imagelab``), under
``judges/<key>/``, where the key hashes everything the judge's training depends on:
the data identity (dataset, root, resolution, breeds, split sizes as realised, so a
size derived from the photo counts counts too, and the kinds of degenerate images
its outlier exposure uses) and the judge config (``judge.min_steps`` included).
Imbalance settings and the run seed do not enter: every run on the same data is
judged by the same instrument. ``data.seed`` (another draw of the real images) and
``judge.seed`` (another training seed) enter only when set, so the keys of judges
cached before these settings existed still hold.
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
from imagelab.judge.degenerate import KINDS, PHOTO_KINDS
from imagelab.judge.model import Judge
from imagelab.judge.pretrained import pretrained_path
from imagelab.runs.atomic import atomic_directory
from imagelab.runtime.cache import CACHE_ENV, building, cache_root

log = logging.getLogger("imagelab")

JUDGE_SEED = 0  # the judge is a fixed instrument: it does not follow the run seed
CACHE_FORMAT = 4  # bump when the judge's training code or the toydogs renderer changes what a cached judge means


def judge_seed(config) -> int:
    """The seed the judge trains with (``config``: the JudgeConfig): its ``seed``, else JUDGE_SEED."""
    return JUDGE_SEED if config.seed is None else config.seed


def outlier_kinds(data: RealData) -> tuple[str, ...]:
    """The degenerate images the judge learns to reject: with the renderer's empty backgrounds for the toy
    dogs, only ones made from the photos themselves for photos (``imagelab.judge.degenerate``)."""
    return KINDS if data.rendered else PHOTO_KINDS


def judge_key(config, data_identity: dict | None = None, split_sizes: dict | None = None,
              kinds: tuple[str, ...] = KINDS) -> str:
    """Hash of what the judge's training depends on (``config`` is the RunConfig; ``data_identity`` the
    dataset's own, e.g. its file list, see ``RealData.identity``; ``split_sizes`` the realised sizes,
    ``RealData.split_sizes``; ``kinds`` its outlier kinds)."""
    data = config.data
    sizes = split_sizes or {}
    identity = {
        "format": CACHE_FORMAT,
        "data": {"name": data.name, "root": data.root, "resolution": data.resolution, "breeds": data.breeds,
                 "judge_train_per_breed": sizes.get("judge_train_per_breed", data.judge_train_per_breed),
                 "eval_per_breed": sizes.get("eval_per_breed", data.eval_per_breed)},
        "judge": dataclasses.asdict(config.judge),
        "outlier_kinds": list(kinds),
    }
    if data.seed is not None:
        identity["data"]["seed"] = data.seed
    if config.judge.seed is None:
        del identity["judge"]["seed"]
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
    kinds = outlier_kinds(data)
    cached = cache_root() / "judges" / judge_key(config, data.identity, data.split_sizes, kinds)
    # Runs started together (imagelab sweep --jobs) train a missing judge once: the others wait, then load it.
    with building(cached, "training this judge"):
        if (cached / "judge.json").exists():
            judge, origin = Judge.load(cached, device), "cache"
        else:
            judge = Judge.train(config.judge, data.judge_train, data.judge_eval, data.breeds, device,
                                seed=judge_seed(config.judge), outlier_kinds=kinds)
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
