"""The metric protocol: what the loop and the report know about any metrics column.

A metric is a class registered in ``METRICS``. It declares the columns it adds to
``metrics.csv`` (``columns``: a classmethod of its settings and the breed names, so the
report can list them without measuring anything), is built once per run from the
run's fixed context (``MetricContext``: breeds, the reference split and its judge
features, the judge's calibration, the eval settings), and turns one generation's
inputs (``GenerationInputs``: its images, the judgement of them, the pool they were
learnt from, generation 0's judgement, the rows so far) into those columns.

Settings are a dataclass named ``Config`` on the class (empty by default), parsed
strictly from the run config's ``eval.metrics`` entry. Every built-in metric always
runs (``metrics/suite.py`` fixes their order, which is the column order of
``metrics.csv``); extra ones run when named in ``eval.metrics``: a registered name, an
entry point of the ``imagelab.metrics`` group, or a ``package.module:Class`` path.
docs/extending-metrics.md shows a whole plugin.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator, Sequence

import torch

from imagelab.data.imageset import ImageSet
from imagelab.errors import UserError
from imagelab.judge.judgement import Judgement
from imagelab.registry import Registry, first_docstring_line

STYLES = ("number", "count", "percent")  # how the report prints a column's values


class MetricError(UserError):
    """A metric that breaks its own declaration (a column claimed twice, or returned but not declared)."""


@dataclass(frozen=True)
class Column:
    """One column of metrics.csv, as its metric declares it."""

    name: str
    label: str = ""  # short heading in the report's tables; "" means the name
    style: str = "number"  # one of STYLES
    headline: bool = False  # one of the few numbers that sum up a generation (report tables, summaries)
    breed: str | None = None  # set on per-breed columns (``<family>_<breed>``): the breed it measures

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"column '{self.name}': style must be one of {', '.join(STYLES)}, got {self.style!r}")
        if self.breed is not None and not self.name.endswith(f"_{self.breed}"):
            raise ValueError(f"column '{self.name}' is about breed '{self.breed}', so its name must end in "
                             f"'_{self.breed}' (per_breed makes such columns)")

    @property
    def heading(self) -> str:
        return self.label or self.name

    @property
    def family(self) -> str:
        """The column's name without its breed: ``coverage`` for ``coverage_dachshund``."""
        return self.name[: -len(self.breed) - 1] if self.breed is not None else self.name


def per_breed(family: str, breeds: Sequence[str], style: str = "number") -> list[Column]:
    """One ``<family>_<breed>`` column per breed, in breed order."""
    return [Column(f"{family}_{breed}", style=style, breed=breed) for breed in breeds]


@dataclass
class MetricConfig:
    """Settings of a metric; a metric's own ``Config`` derives from it (and may stay empty)."""


@dataclass(frozen=True)
class MetricContext:
    """What a metric may use, fixed for the whole run (built once, before generation 0)."""

    breeds: tuple[str, ...]
    reference: ImageSet  # held-out real images with the pool's breed proportions, true labels
    reference_features: torch.Tensor  # (R, D) the judge's features of ``reference``
    detection_floors: dict[str, float]  # per breed, in breed order: shares below it are judge error
    label_confusion: torch.Tensor  # (K, K + 1) real held-out counts: rows truth; columns judged, unrecognized
    eval: Any  # the run's EvalConfig (config.py builds on the metrics, so it is not imported here)
    seed: int  # the run's seed; derive a metric's own with seeding.derive_seed
    device: torch.device


@dataclass(frozen=True)
class GenerationInputs:
    """Everything one generation's metrics are computed from."""

    generation: int
    images: ImageSet  # the samples (generation 0: the real pool), labelled with the breeds asked for
    judgement: Judgement  # the judge on ``images`` (CPU tensors)
    pool: ImageSet  # the training pool the samples were learnt from (generation 0: the real pool itself)
    real: Judgement  # the judge on generation 0, the real pool: the baseline of the relative metrics
    earlier_rows: tuple[dict[str, Any], ...]  # metrics rows of the generations before, generation 0 first
    fit: dict[str, float] = field(default_factory=dict)  # the generator's FitReport.extra (generation 0: none)


class Metric(ABC):
    Config: ClassVar[type[MetricConfig]] = MetricConfig

    def __init__(self, config: MetricConfig, context: MetricContext) -> None:
        """Build the metric for a run; real-side statistics that never change are computed here, once."""
        self.config = config
        self.context = context

    @classmethod
    @abstractmethod
    def columns(cls, config: MetricConfig, breeds: Sequence[str]) -> list[Column]:
        """The columns ``measure`` returns, in metrics.csv order."""

    @abstractmethod
    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        """One value per declared column (NaN where it cannot be measured)."""

    @classmethod
    def describe(cls) -> str:
        """One line for ``imagelab list metrics --verbose``: the docstring's first line."""
        return first_docstring_line(cls)


METRICS: Registry[type[Metric]] = Registry("metric", entry_point_group="imagelab.metrics")


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, then restore the setting.

    The matrices of the k-NN, diversity and per-breed metrics are small (2,480 x 2,480
    distances at the default size): on a 2-core machine busy with other work, one
    generation's metrics took 0.5 s wall on one thread and 2.7 s on two, the threads
    spinning against the other load (``benchmarks/metrics_speed.py --threads 1`` and
    ``--threads 2``; docs/metrics.md, Cost).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
