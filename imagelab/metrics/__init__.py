"""Per-generation metrics. Importing the package registers every built-in one in ``METRICS`` (metric.py)."""

from imagelab.metrics import (  # noqa: F401  (each module registers its metrics as it is imported)
    asked,
    bbse,
    breed_distances,
    breeds,
    coverage,
    detectability,
    distinct,
    diversity,
    extinction,
    fid,
    pool,
)
