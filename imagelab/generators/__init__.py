"""Generators: the protocol, the registry, and the built-in generators (registered on import)."""

from imagelab.generators.base import (
    GENERATORS,
    DataSpec,
    FitReport,
    Generator,
    GeneratorConfig,
    build_generator,
    load_generator,
)
from imagelab.errors import NonFiniteLossError
from imagelab.generators import ddpm, ddpm_cond, diffusers_pipeline, gmm, resample, vae  # noqa: E402,F401  (register the built-ins)

__all__ = ["GENERATORS", "DataSpec", "FitReport", "Generator", "GeneratorConfig", "NonFiniteLossError",
           "build_generator", "load_generator"]
