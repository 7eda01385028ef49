"""Everything a plugin author needs, from one module: ``from imagelab.plugin import Generator, ...``.

A generator plugin subclasses ``Generator`` with a ``Config`` dataclass deriving from
``GeneratorConfig`` (its fields are the ``generator.*`` keys), learns an ``ImageSet`` in
``fit`` (losses through ``check_finite``), samples ``n`` uint8 images in ``sample`` where
image i depends only on the seed and i (``sample_seeds``, ``per_sample_randn``), and
returns its learnt tensors from ``state_tensors``. It is registered by an entry point in
the ``imagelab.generators`` group, by ``generator.name=package.module:Class``, or in one
process by ``imagelab.register_generator(name, cls)`` (see docs/python-api.md and
examples/imagelab-example-generator). Regimes and filters have registries of their own.
Long loops of a plugin show their progress with ``progress_bar`` (the lab's own bars: main
process only, off with ``TQDM_DISABLE=1``); ``train_epochs`` already shows one per fit.

The names here are the public surface; where they are defined inside the package may change.
"""

from imagelab.data.imageset import REAL, UNLABELED, ImageSet, to_uint8
from imagelab.errors import ConfigError, DivergedLossError, NonFiniteLossError
from imagelab.generators.base import GENERATORS, DataSpec, FitReport, Generator, GeneratorConfig
from imagelab.generators.training import Batch, optimizer_steps, seeded_module, train_epochs
from imagelab.judge.judgement import Judgement
from imagelab.lab import register_generator
from imagelab.pools.filters import FILTERS
from imagelab.pools.regimes import REGIMES
from imagelab.registry import Registry
from imagelab.runtime.finite import check_finite
from imagelab.runtime.progress import progress_bar
from imagelab.seeding import derive_seed, per_sample_randn, sample_seeds, torch_generator

__all__ = [
    "Batch",
    "optimizer_steps",
    "seeded_module",
    "train_epochs",
    "FILTERS",
    "GENERATORS",
    "REAL",
    "REGIMES",
    "UNLABELED",
    "ConfigError",
    "DivergedLossError",
    "DataSpec",
    "FitReport",
    "Generator",
    "GeneratorConfig",
    "ImageSet",
    "Judgement",
    "NonFiniteLossError",
    "Registry",
    "check_finite",
    "derive_seed",
    "per_sample_randn",
    "progress_bar",
    "register_generator",
    "sample_seeds",
    "to_uint8",
    "torch_generator",
]
