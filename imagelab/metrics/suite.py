"""The metrics of a run, and the one place a metrics row is made.

``MetricSuite`` builds every built-in metric (in ``BUILT_IN_METRICS`` order, the column
order of metrics.csv), then the extra ones ``eval.metrics`` names, once per run from
the reference split (real held-out images with the pool's breed proportions, true
labels) and its judge features: the real-side statistics (FID moments, k-NN radii,
per-breed statistics) are computed there, once. ``measure`` then turns each
generation's inputs into its row: ``generation``, then each metric's declared columns.
Names and meanings: README "metrics.csv columns" and docs/metrics.md; how to add a
metric: docs/extending-metrics.md.

The suite's ``declared`` columns go into the manifest, so a report, a seeds aggregate or
a sweep summary knows a run's columns (and which are headline) even where a plugin
metric that made them is not installed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

from imagelab.errors import ConfigError
from imagelab.metrics.metric import (
    METRICS,
    Column,
    GenerationInputs,
    Metric,
    MetricConfig,
    MetricContext,
    MetricError,
)
from imagelab.registry import RegistryError

# Every built-in metric, in the order of its columns in metrics.csv (after ``generation``).
BUILT_IN_METRICS = ("fid", "census", "corrected_shares", "tv_to_real", "judged", "prdc", "hill_numbers",
                    "kl_to_real", "tail_mass", "within_breed_variance", "breed_distances", "extinct_since",
                    "pool", "judged_as_asked", "detectability", "distinct")


@dataclass(frozen=True)
class ChosenMetric:
    """A metric a run measures: its name (registered, entry point or module:Class), class and settings."""

    name: str
    metric: type[Metric]
    config: MetricConfig


@dataclass(frozen=True)
class DeclaredColumns:
    """The columns one metric adds to a run's rows."""

    metric: str
    columns: tuple[Column, ...]
    description: str = ""  # the metric's one line (its docstring's first)

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "description": self.description,
                "columns": [asdict(column) for column in self.columns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeclaredColumns:
        columns = tuple(Column(**column) for column in data["columns"])
        return cls(str(data["metric"]), columns, str(data.get("description", "")))


def chosen_metrics(extra: Sequence[ChosenMetric] = ()) -> list[ChosenMetric]:
    """The built-in metrics with their default settings, then ``extra``."""
    built_in = [ChosenMetric(name, metric, metric.Config())
                for name, metric in ((name, METRICS.get(name)) for name in BUILT_IN_METRICS)]
    return built_in + list(extra)


def declare(chosen: Sequence[ChosenMetric], breeds: Sequence[str]) -> list[DeclaredColumns]:
    """Each chosen metric's columns; two metrics may not claim the same column."""
    declared, owner = [], {"generation": "the row itself"}
    for choice in chosen:
        columns = tuple(choice.metric.columns(choice.config, breeds))
        for column in columns:
            if column.name in owner:
                raise MetricError(f"metric '{choice.name}' declares the column '{column.name}', which "
                                  f"{owner[column.name]} already has; rename one of them")
            owner[column.name] = f"metric '{choice.name}'"
        declared.append(DeclaredColumns(choice.name, columns, choice.metric.describe()))
    return declared


def built_in_headline() -> tuple[str, ...]:
    """Names of the built-in metrics' headline columns (none is per breed), in metrics.csv order."""
    declared = declare(chosen_metrics(), breeds=())
    return tuple(column.name for metric in declared for column in metric.columns if column.headline)


FIT_METRIC = "fit"  # the name the generator's own numbers (FitReport.extra) are declared under


class MetricSuite:
    """Every metric of a run, built once; ``measure`` makes one generation's row.

    ``fit_columns`` are the names of the numbers the run's generator reports with each fit
    (``Generator.fit_columns``): they come last, as ``fit_<name>``, empty in generation 0.
    """

    def __init__(self, context: MetricContext, extra: Sequence[ChosenMetric] = (),
                 fit_columns: Sequence[str] = ()) -> None:
        chosen = chosen_metrics(extra)
        self.declared = declare(chosen, context.breeds)
        self.metrics = [choice.metric(choice.config, context) for choice in chosen]  # real-side statistics
        self.fit_columns = tuple(fit_columns)
        if self.fit_columns:
            self.declared.append(DeclaredColumns(FIT_METRIC, tuple(Column(f"fit_{name}") for name in fit_columns),
                                                 "numbers the generator reported with its fit (FitReport.extra)"))

    def measure(self, inputs: GenerationInputs) -> dict[str, Any]:
        """``generation``, then every metric's columns in declared order."""
        row: dict[str, Any] = {"generation": inputs.generation}
        for declared, metric in zip(self.declared, self.metrics):
            values = metric.measure(inputs)
            names = [column.name for column in declared.columns]
            if set(values) != set(names):
                raise MetricError(f"metric '{declared.metric}' returned the columns {sorted(values)}, but "
                                  f"its columns() declares {names}; return exactly the declared ones")
            row.update({name: values[name] for name in names})
        row.update({f"fit_{name}": inputs.fit.get(name) for name in self.fit_columns})
        return row


# --- eval.metrics: the extra metrics of a run ----------------------------------------------------

ParseSettings = Callable[[type, dict, str], MetricConfig]  # (Config class, settings, key prefix) -> Config


def read_extra_metrics(entries: list, key: str, parse_settings: ParseSettings) -> list[ChosenMetric]:
    """The ``eval.metrics`` entries resolved: a name, or ``{name: ..., <setting>: value, ...}``.

    ``parse_settings`` is the config's strict dataclass parser (unknown keys and wrong
    types are refused, naming ``<key>[i].<setting>``).
    """
    chosen: list[ChosenMetric] = []
    for index, entry in enumerate(entries):
        where = f"{key}[{index}]"
        settings = dict(entry) if isinstance(entry, dict) else {"name": entry}
        name = settings.pop("name", None)
        if not isinstance(name, str) or not name:
            raise ConfigError(where, "must be a metric's name or a mapping with 'name' and its settings, "
                                     "e.g. {name: my_metric, threshold: 0.5} (imagelab list metrics); "
                                     f"got {entry!r}")
        if name in BUILT_IN_METRICS:
            raise ConfigError(where, f"'{name}' is built in and always runs; list only extra metrics here")
        if name in (other.name for other in chosen):
            raise ConfigError(where, f"'{name}' is listed twice; list each metric once")
        try:
            metric = METRICS.get(name)
        except RegistryError as error:
            raise ConfigError(where, str(error)) from None
        if not (isinstance(metric, type) and issubclass(metric, Metric)):
            raise ConfigError(where, f"'{name}' is not a Metric class (imagelab.metrics.metric.Metric)")
        if not (isinstance(metric.Config, type) and issubclass(metric.Config, MetricConfig)):
            raise ConfigError(where, f"'{name}' has no Config dataclass deriving from MetricConfig")
        chosen.append(ChosenMetric(name, metric, parse_settings(metric.Config, settings, f"{where}.")))
    return chosen


# --- a run's columns, read back ------------------------------------------------------------------


def columns_of_run(manifest: dict[str, Any], breeds: Sequence[str]) -> list[DeclaredColumns]:
    """The columns a run declared (its manifest's ``metrics``), else the built-in metrics' for ``breeds``.

    A run folder from before the manifest recorded them, or one whose record is damaged,
    gets the built-in columns: those are the ones such a run measured.
    """
    recorded = manifest.get("metrics")
    if isinstance(recorded, list):
        try:
            return [DeclaredColumns.from_dict(entry) for entry in recorded]
        except (KeyError, TypeError, ValueError):
            pass
    return declare(chosen_metrics(), breeds)
