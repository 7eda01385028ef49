"""Generators: the protocol, the registry, and the built-in generators (registered on import)."""

from imagelab.errors import NonFiniteLossError

# Importing the built-ins registers them.
from imagelab.generators import (  # noqa: F401
    ddpm,
    ddpm_cond,
    diffusers_pipeline,
    gmm,
    latent_diffusion,
    resample,
    vae,
)
from imagelab.generators.base import (
    GENERATORS,
    DataSpec,
    FitReport,
    Generator,
    GeneratorConfig,
    build_generator,
    load_generator,
)

__all__ = ["GENERATORS", "DataSpec", "FitReport", "Generator", "GeneratorConfig", "NonFiniteLossError",
           "build_generator", "load_generator"]
