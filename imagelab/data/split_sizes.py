"""How many images each split gets: the sizes the config sets, or, for photos, sizes that fit the photos.

Three settings size the splits: ``data.judge_train_per_breed`` and
``data.eval_per_breed`` (the balanced judge splits) and ``data.imbalance.max_count``
(the pool's largest breed; the reference set has the pool's counts). A rendered
dataset (toydogs) draws as many images as asked, so its defaults are fixed numbers
(``RENDERED_SIZES``, filled into the config). A photo dataset has as many photos
as it has, so a setting left out (None) is derived from the breeds' usable photo
counts (docs/datasets.md):

- judge_train_per_breed: 30% of the smallest breed's photos (``JUDGE_TRAIN_SHARE``);
- eval_per_breed: 20% of them (``JUDGE_EVAL_SHARE``);
- imbalance.max_count: the largest value for which every breed's pool count, by the
  imbalance profile, fits in what that breed has left after the judge splits,
  shared equally with its reference set (and with the reservoir blocks of a loop that
  draws fresh real data). With breeds of equal size that is 25% each for the pool's
  largest breed and its reference images.

Sizes given in the config are kept as they are; the photo dataset then checks that
every breed holds enough photos, as before.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from imagelab.data.imbalance import breed_counts
from imagelab.errors import ConfigError

log = logging.getLogger("imagelab")

JUDGE_TRAIN_SHARE = 0.30  # of the smallest breed's usable photos
JUDGE_EVAL_SHARE = 0.20
# The fixed defaults of a dataset without a photo count (the rendered toy dogs). The held-out split is the
# largest: the detectability test needs the judge's error rates known well enough to see a breed's last few
# images (at 1,000 per breed it detects 5 true PBGVs beside 1,000 golden retrievers 96% of the time, at 300
# not even 10; docs/metrics.md), and rendering and judging 7,000 more images costs seconds.
RENDERED_SIZES = {"judge_train_per_breed": 300, "eval_per_breed": 1000, "max_count": 1000}
KEYS = {"judge_train_per_breed": "data.judge_train_per_breed", "eval_per_breed": "data.eval_per_breed",
        "max_count": "data.imbalance.max_count"}


@dataclass(frozen=True)
class SplitSizes:
    """The sizes a run's splits are cut to, and which of them were derived from the photo counts."""

    judge_train_per_breed: int
    eval_per_breed: int
    pool_counts: list[int]  # per breed, in the run's breed order; the reference set has the same counts
    max_count: int | None  # None with data.imbalance.profile=counts, which gives the counts themselves
    derived: tuple[str, ...] = ()  # config keys (KEYS' values) that were derived from the photo counts
    smallest_breed: dict[str, Any] = field(default_factory=dict)  # {"breed", "usable_images"} when derived

    def record(self) -> dict[str, Any]:
        """The sizes as the manifest keeps them (``manifest["data"]["split_sizes"]``)."""
        record: dict[str, Any] = {"judge_train_per_breed": self.judge_train_per_breed,
                                  "eval_per_breed": self.eval_per_breed, "max_count": self.max_count,
                                  "derived": list(self.derived)}
        if self.derived:
            record["smallest_breed"] = dict(self.smallest_breed)
        return record


def left_to_derive(config) -> bool:
    """Whether a split size of ``config`` (a DataConfig) is left to be derived from the photo counts."""
    return (config.judge_train_per_breed is None or config.eval_per_breed is None
            or (config.imbalance.max_count is None and config.imbalance.profile != "counts"))


def plan_split_sizes(config, breeds: Sequence[str], usable: Sequence[int] | None,
                     pool_sized_splits: int = 2) -> SplitSizes:
    """The split sizes for ``breeds`` (names, in the run's order) with ``usable`` photos each (None: no limit).

    ``pool_sized_splits``: how many sets of the pool's counts each breed must hold (the pool,
    the reference set, and any reservoir blocks).
    """
    imbalance = config.imbalance
    sizes = {"judge_train_per_breed": config.judge_train_per_breed, "eval_per_breed": config.eval_per_breed,
             "max_count": imbalance.max_count}
    derived: list[str] = []
    smallest: dict[str, Any] = {}
    needs_max_count = imbalance.profile != "counts"
    missing = [name for name, value in sizes.items() if value is None and (name != "max_count" or needs_max_count)]
    if missing and usable is None:
        # A dataset without a photo count (a plugin's rendered data, a config built by hand): the fixed defaults.
        sizes.update({name: RENDERED_SIZES[name] for name in missing})
    elif missing:
        index = min(range(len(breeds)), key=lambda i: usable[i])
        count = usable[index]
        smallest = {"breed": breeds[index], "usable_images": count}
        shares = {"judge_train_per_breed": JUDGE_TRAIN_SHARE, "eval_per_breed": JUDGE_EVAL_SHARE}
        for name, share in shares.items():
            if sizes[name] is None:
                sizes[name] = max(1, math.floor(share * count))
                derived.append(KEYS[name])
        if needs_max_count and sizes["max_count"] is None:
            taken = sizes["judge_train_per_breed"] + sizes["eval_per_breed"]
            room = [(available - taken) // pool_sized_splits for available in usable]
            sizes["max_count"] = _largest_fitting_max_count(imbalance, room, breeds, usable, taken)
            derived.append(KEYS["max_count"])
    pool_counts = breed_counts(imbalance.profile, len(breeds), max_count=sizes["max_count"] or 1,
                               ratio=imbalance.ratio, minority_fraction=imbalance.minority_fraction,
                               counts=imbalance.counts)
    plan = SplitSizes(sizes["judge_train_per_breed"], sizes["eval_per_breed"], pool_counts,
                      sizes["max_count"] if needs_max_count else None, tuple(derived), smallest)
    if derived:
        chosen = ", ".join(f"{key}={_value(plan, key)}" for key in derived)
        log.info(f"data: split sizes from the photo counts (smallest breed '{smallest['breed']}': "
                 f"{smallest['usable_images']} usable images; judge train 30%, judge held-out 20%, the pool and its "
                 f"reference set share the rest): {chosen}; pool counts {pool_counts}. Set a key to choose it yourself")
    return plan


def _largest_fitting_max_count(imbalance, room: list[int], breeds: Sequence[str], usable: Sequence[int],
                               taken: int) -> int:
    """The largest max_count whose pool counts (by the profile) are at most ``room`` for every breed."""
    # Every profile gives the first breed max_count itself, and no count falls when max_count grows.
    for max_count in range(room[0], 0, -1):
        counts = breed_counts(imbalance.profile, len(room), max_count=max_count, ratio=imbalance.ratio,
                              minority_fraction=imbalance.minority_fraction)
        if all(count <= limit for count, limit in zip(counts, room)):
            return max_count
    short = min(range(len(room)), key=lambda i: room[i])
    raise ConfigError("data", f"breed '{breeds[short]}' has {usable[short]} usable images: after the judge's "
                              f"{taken} per breed (data.judge_train_per_breed + data.eval_per_breed) too few are "
                              f"left for its pool and reference images; add photos, leave the breed out of "
                              f"data.breeds, or lower data.judge_train_per_breed and data.eval_per_breed")


def _value(plan: SplitSizes, key: str) -> int | None:
    name = next(name for name, spelled in KEYS.items() if spelled == key)
    return getattr(plan, name)
