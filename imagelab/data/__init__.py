"""Real data: the embedded toy dogs, photos on disk, long-tail profiles, splits and the ImageSet type."""

from imagelab.data import folders, oxford_pets, toydogs_dataset  # noqa: F401  (register folder, oxford_pets, toydogs)
from imagelab.data.imageset import REAL, UNLABELED, ImageSet
from imagelab.data.splits import DATASETS, RealData, build_real_data

__all__ = ["DATASETS", "REAL", "UNLABELED", "ImageSet", "RealData", "build_real_data"]
