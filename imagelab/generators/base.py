"""The generator protocol: what the loop knows about any generator.

A generator is built from its config (a dataclass named ``Config`` on the class,
parsed strictly from the ``generator`` section of the run config), learns from an
ImageSet with ``fit`` (optionally warm-started from the previous generation),
samples ``n`` uint8 images reproducibly from a seed, and saves/loads itself as
``config.json`` + ``model.safetensors``. Register a new one with
``@GENERATORS.register("name")``, an entry point in the ``imagelab.generators``
group, or ``generator.name=package.module:Class``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
from safetensors.torch import load_file, save_file

from imagelab.data.imageset import ImageSet
from imagelab.registry import Registry, first_docstring_line
from imagelab.runtime.finite import check_finite  # noqa: F401  (public here for plugins)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class GeneratorConfig:
    """Settings every generator has; subclasses add their own fields."""

    name: str = "vae"


@dataclass
class FitReport:
    """What one ``fit`` did: the loss per epoch (or step), for logs and the manifest.

    ``extra`` holds further numbers of the fit, one per name the generator class lists in
    ``fit_columns``; each becomes the ``fit_<name>`` column of metrics.csv.
    """

    losses: list[float] = field(default_factory=list)
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def final_loss(self) -> float:
        return self.losses[-1] if self.losses else float("nan")


@dataclass(frozen=True)
class DataSpec:
    """What a generator needs to know about the data it will learn."""

    resolution: int
    num_classes: int


class Generator(ABC):
    Config: ClassVar[type[GeneratorConfig]] = GeneratorConfig
    # Names of the numbers every fit reports in FitReport.extra: metrics.csv gets a fit_<name> column for
    # each. Declared on the class so a run knows its columns before its first fit.
    fit_columns: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: GeneratorConfig, data: DataSpec, device: torch.device) -> None:
        self.config = config
        self.data = data
        self.device = device

    @classmethod
    def check_data(cls, config: GeneratorConfig, resolution: int) -> None:
        """Refuse, before a run starts, images this generator cannot learn (raise ConfigError naming the key).

        Called with the run's ``data.resolution`` before any folder is written, so that a
        mismatch stops the run at once rather than at generation 1. Only the resolution
        is known then: the breeds are counted once the data are loaded. By default
        anything is accepted.
        """

    @abstractmethod
    def fit(self, pool: ImageSet, *, seed: int, warm_start: Generator | None = None) -> FitReport:
        """Learn ``pool``; ``warm_start`` is the previous generation's generator, if any."""

    @abstractmethod
    def sample(self, n: int, *, seed: int) -> ImageSet:
        """``n`` images; image ``i`` depends only on ``seed`` and ``i`` (see seeding.sample_seeds).

        Labels are the breeds the generator meant to draw, or UNLABELED; provenance is
        set by the loop.
        """

    # Rows per sampling pass. A process of a multi-process run samples a range of indices that starts on
    # a multiple of it, so each pass holds the rows it holds in one process (see distributed.py).
    sampling_chunk: int = 1

    def sample_range(self, n: int, *, seed: int, start: int, stop: int) -> ImageSet:
        """Images ``start``..``stop - 1`` of ``sample(n, seed=seed)``: one process's share of a sample.

        This default draws all ``n`` images in every process and keeps the range: exactly
        the images of one process, but no time saved. Generators that can draw a range
        directly (vae, ddpm) override it.
        """
        return self.sample(n, seed=seed).subset(slice(start, stop))

    def runtime_facts(self) -> dict:
        """How the fit ran on its device (the torch generators: precision, channels_last, compiled).

        The loop records it in the manifest's fit stage (``runtime``); {} records nothing.
        """
        return {}

    @abstractmethod
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Everything learned, as named tensors (safetensors holds no code)."""

    @abstractmethod
    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore what ``state_tensors`` returned."""

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"config": asdict(self.config), "data": asdict(self.data)}
        (directory / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
        tensors = {k: v.detach().contiguous().cpu() for k, v in self.state_tensors().items()}
        save_file(tensors, str(directory / WEIGHTS_FILE))

    @classmethod
    def load(cls, directory: Path, device: torch.device) -> Generator:
        meta = json.loads((directory / CONFIG_FILE).read_text())
        generator = cls(cls.Config(**meta["config"]), DataSpec(**meta["data"]), device)
        generator.load_state_tensors(load_file(str(directory / WEIGHTS_FILE), device=str(device)))
        return generator

    @classmethod
    def describe(cls) -> str:
        """One line for ``imagelab list generators``."""
        return first_docstring_line(cls)


def not_a_generator_class(obj: object) -> str | None:
    """Why ``obj`` cannot be registered as a generator (None if it can): it must subclass Generator."""
    if isinstance(obj, type) and issubclass(obj, Generator):
        return None
    what = f"the class {obj.__qualname__}" if isinstance(obj, type) else f"a {type(obj).__name__}"
    return f"names {what}, not a generator class (a subclass of imagelab.plugin.Generator)"


GENERATORS: Registry[type[Generator]] = Registry("generator", entry_point_group="imagelab.generators",
                                                 validate=not_a_generator_class)


def build_generator(config: GeneratorConfig, data: DataSpec, device: torch.device) -> Generator:
    return GENERATORS.get(config.name)(config, data, device)


def load_generator(directory: Path, device: torch.device) -> Generator:
    """Load a saved generator, whatever its kind, from its ``config.json`` + weights."""
    name = json.loads((directory / CONFIG_FILE).read_text())["config"]["name"]
    return GENERATORS.get(name).load(directory, device)
