"""Real data: the embedded toy dogs, long-tail profiles, splits and the ImageSet type."""

from imagelab.data import toydogs_dataset  # noqa: F401  (registers "toydogs")
from imagelab.data.imageset import REAL, UNLABELED, ImageSet
from imagelab.data.splits import DATASETS, RealData, build_real_data

__all__ = ["DATASETS", "REAL", "UNLABELED", "ImageSet", "RealData", "build_real_data"]
