"""The cache folder shared by every run: trained judges, preprocessed photos, Inception weights.

``$IMAGELAB_CACHE``, or ``~/.cache/imagelab`` when it is unset.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "IMAGELAB_CACHE"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "imagelab").expanduser()
