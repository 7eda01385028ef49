"""Typed run configuration: dataclasses, YAML presets, dotted overrides, strict checks.

A config is built from (1) the dataclass defaults, which *are* the embedded default
lab, (2) an optional YAML file or bundled preset, and (3) ``key=value`` overrides
whose values are parsed as YAML (``loop.generations=20``,
``data.imbalance.counts=[400,50,5]``). Every key is checked: unknown keys, wrong
types and out-of-range values raise ConfigError naming the key and what is allowed.
The ``generator`` section is parsed by the chosen generator's own ``Config`` class.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from imagelab.errors import ConfigError
from imagelab.generators import GENERATORS, GeneratorConfig
from imagelab.judge.model import JudgeConfig
from imagelab.data import DATASETS
from imagelab.metrics.fid import inception_weights_path
from imagelab.metrics.suite import ChosenMetric, read_extra_metrics
from imagelab.pools.regimes import REGIMES
from imagelab.pools.regimes import check_loop_config


def preset_dir() -> Path:
    """The YAML presets: configs/ of a source checkout, or its copy installed as imagelab/presets."""
    installed = Path(__file__).parent / "presets"
    return installed if installed.is_dir() else Path(__file__).parent.parent / "configs"


def _range(low: float | None = None, high: float | None = None, *, choices: tuple[str, ...] = ()) -> dict:
    """Field metadata read by the generic validator."""
    return {"min": low, "max": high, "choices": choices}


@dataclass
class ImbalanceConfig:
    # exponential: n_i = max_count * ratio^(-i/(C-1)) (the long-tailed CIFAR convention);
    # zipf: n_i = max_count * (i+1)^(-a), a chosen so n_0/n_{C-1} = ratio;
    # step: the first (1 - minority_fraction) of breeds get max_count, the rest max_count/ratio;
    # counts: explicit counts per breed; none: max_count for every breed.
    profile: str = field(default="exponential", metadata=_range(choices=("exponential", "zipf", "step", "counts", "none")))
    ratio: float = field(default=100.0, metadata=_range(1.0))
    max_count: int = field(default=1000, metadata=_range(1))
    minority_fraction: float = field(default=0.5, metadata=_range(0.0, 1.0))
    counts: list[int] | None = None


@dataclass
class DataConfig:
    name: str = "toydogs"
    root: str | None = None
    resolution: int = field(default=32, metadata=_range(8, 1024))
    breeds: list[str] | None = None  # a subset and order of the dataset's breeds; default all
    imbalance: ImbalanceConfig = field(default_factory=ImbalanceConfig)
    judge_train_per_breed: int = field(default=300, metadata=_range(1))  # balanced split the judge learns
    # Balanced held-out split for the judge's accuracy, threshold and detection floors: 300 per breed puts a
    # breed's floor at 0.11% of samples when the judge makes no false positive (the rule of three over 2,700).
    eval_per_breed: int = field(default=300, metadata=_range(1))
    # Photos on disk (data.name folder or oxford_pets): a file that cannot be used is skipped and logged, or,
    # with strict, stops the run; photos with a shorter side below min_side pixels count as unusable.
    strict: bool = False
    min_side: int = field(default=8, metadata=_range(1))
    download: bool = False  # oxford_pets only: fetch the dataset into data.root (needs network)


@dataclass
class LoopConfig:
    generations: int = field(default=10, metadata=_range(0, 10_000))
    regime: str = "replace"
    real_fraction: float = field(default=0.0, metadata=_range(0.0, 1.0))  # regime mix: real share of each pool
    # regime mix: the real fraction of the pools of generations 2, 3, ... (generation 1 always learns the real
    # pool); the last value holds for later generations. None: loop.real_fraction for every generation.
    real_fraction_schedule: list[float] | None = None
    # regime mix: fixed reuses the same real images every generation; fresh draws new ones each generation
    # from a real reservoir, disjoint from every other split (built only when needed).
    real_source: str = field(default="fixed", metadata=_range(choices=("fixed", "fresh")))
    filter: str = "none"  # a registered filter (imagelab list filters), applied before data joins a pool
    filter_threshold: float = field(default=0.9, metadata=_range(0.0, 1.0))  # filter confident: min judge confidence
    detector_recall: float = field(default=0.9, metadata=_range(0.0, 1.0))  # filter provenance: synthetic images flagged
    detector_false_positive_rate: float = field(default=0.05, metadata=_range(0.0, 1.0))  # filter provenance: real flagged
    samples_per_generation: int | None = field(default=None, metadata=_range(2))  # default: size of the real pool; FID needs 2+
    warm_start: bool = False  # start each generator from the previous generation's weights


@dataclass
class EvalConfig:
    fid_features: str = field(default="judge", metadata=_range(choices=("judge", "inception")))
    # A breed is alive while its share of the samples is at least this (a share, not a count). None: each
    # breed's own floor, the upper bound of the judge's false-positive rate for it on real held-out images.
    detection_floor: float | None = field(default=None, metadata=_range(0.0, 1.0))
    # Inception FID's weights file (torch-fidelity's pt_inception-2015-12-05-6726825d.pth); None: that file in
    # $IMAGELAB_CACHE. Read only with fid_features=inception; a missing file stops the run (nothing is downloaded).
    inception_weights: str | None = None
    nearest_k: int = field(default=5, metadata=_range(1))  # k of the k-NN balls of precision/recall/density/coverage
    tail_breeds: int = field(default=3, metadata=_range(1))  # tail_mass: share of this many rarest breeds
    grid_samples: int = field(default=64, metadata=_range(1, 1024))  # images in each grid.png
    breed_row_samples: int = field(default=16, metadata=_range(1, 256))  # images per breed row in breeds.png

    # --- extra metrics (imagelab list metrics; docs/extending-metrics.md) ---------------------------
    # Every built-in metric always runs; these run too, their columns after the built-ins'. Each entry is a
    # metric's name (registered, entry point, or module:Class), alone or as {name: ..., <setting>: value}.
    metrics: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.extra_metrics()  # an unknown metric or a bad setting is refused while the config is read

    def extra_metrics(self) -> list[ChosenMetric]:
        """The ``metrics`` entries resolved: each metric's class and its settings, parsed strictly."""
        return read_extra_metrics(self.metrics, "eval.metrics", parse_settings=_parse_dataclass)
    # --- end of extra metrics ----------------------------------------------------------------------


@dataclass
class RunConfig:
    seed: int = 0
    device: str = field(default="auto", metadata=_range(choices=("auto", "cpu", "cuda", "mps")))
    data: DataConfig = field(default_factory=DataConfig)
    generator: GeneratorConfig = field(default_factory=lambda: GENERATORS.get("vae").Config())
    loop: LoopConfig = field(default_factory=LoopConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# --- building a config -------------------------------------------------------------------------


def load_config(source: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """The config of a run: defaults <- YAML file or preset ``source`` <- ``key=value`` overrides."""
    tree = read_config_source(source) if source else {}
    for override in overrides:
        apply_override(tree, override)
    return config_from_dict(tree)


def config_from_dict(tree: dict[str, Any]) -> RunConfig:
    if not isinstance(tree, dict):
        raise ConfigError("config", f"must be a mapping of keys to values, got {type(tree).__name__}")
    tree = dict(tree)
    generator_tree = tree.pop("generator", {}) or {}
    if not isinstance(generator_tree, dict):
        raise ConfigError("generator", "must be a mapping with at least 'name'")
    config = _parse_dataclass(RunConfig, tree, "")
    config.generator = _parse_generator(generator_tree)
    _check_cross_fields(config)
    return config


def _parse_generator(tree: dict[str, Any]) -> GeneratorConfig:
    name = tree.get("name", "vae")
    if not isinstance(name, str):
        raise ConfigError("generator.name", f"must be a string, got {name!r}")
    try:
        generator_class = GENERATORS.get(name)
    except LookupError as error:
        raise ConfigError("generator.name", str(error)) from None
    config_class = getattr(generator_class, "Config", None)
    if not (isinstance(config_class, type) and issubclass(config_class, GeneratorConfig)):
        raise ConfigError("generator.name", f"'{name}' has no Config dataclass deriving from GeneratorConfig")
    return _parse_dataclass(config_class, {**tree, "name": name}, "generator.")


def _check_cross_fields(config: RunConfig) -> None:
    """Checks that involve more than one key (single keys are checked by their metadata)."""
    imbalance = config.data.imbalance
    if imbalance.profile == "counts" and not imbalance.counts:
        raise ConfigError("data.imbalance.counts", "must list one count per breed when profile is 'counts'")
    if imbalance.counts is not None and any(c < 0 for c in imbalance.counts):
        raise ConfigError("data.imbalance.counts", f"counts must be >= 0, got {imbalance.counts}")
    if imbalance.counts is not None and imbalance.profile != "counts":
        raise ConfigError("data.imbalance.counts", f"is only used with profile 'counts' (profile is '{imbalance.profile}')")
    if config.eval.fid_features == "inception":

        inception_weights_path(config.eval)  # refuses now, before any work, if the weights file is not local

    try:
        REGIMES.get(config.loop.regime)
    except LookupError as error:
        raise ConfigError("loop.regime", str(error)) from None

    check_loop_config(config.loop)

    try:
        DATASETS.get(config.data.name)
    except LookupError as error:
        raise ConfigError("data.name", str(error)) from None


# --- YAML sources and overrides ----------------------------------------------------------------


def preset_names() -> list[str]:
    return sorted(p.stem for p in preset_dir().glob("*.yaml"))


def read_config_source(source: str) -> dict[str, Any]:
    """Parse a YAML path, or the name of a bundled preset (``toy-vae``)."""
    path = Path(source)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError("CONFIG", f"no config file '{source}'; give a YAML path or a preset: {', '.join(preset_names())}")
        text, where = path.read_text(), str(path)
    else:
        preset = preset_dir() / f"{source}.yaml"
        if not preset.is_file():
            raise ConfigError("CONFIG", f"unknown preset '{source}'; available: {', '.join(preset_names())} (or a YAML path)")
        text, where = preset.read_text(), f"preset {source}"
    try:
        tree = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError("CONFIG", f"{where} is not valid YAML: {error}") from None
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise ConfigError("CONFIG", f"{where} must hold a mapping of keys to values")
    return tree


def apply_override(tree: dict[str, Any], override: str) -> None:
    """Set ``a.b.c=value`` in the nested ``tree``; the value is parsed as YAML."""
    key, sep, raw = override.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(override, "overrides look like key=value with a dotted key, e.g. loop.generations=20")
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError:
        value = raw  # an unparsable value is taken as a string; the type check names the key if wrong
    *parents, leaf = key.split(".")
    node = tree
    for depth, part in enumerate(parents):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(".".join(parents[: depth + 1]), "is a value, not a section; cannot set keys under it")
        node = child
    node[leaf] = value


# --- the generic, strict dataclass parser ------------------------------------------------------


def _parse_dataclass(cls: type, tree: Any, prefix: str) -> Any:
    if not isinstance(tree, dict):
        raise ConfigError(prefix.rstrip(".") or "config", f"must be a section (a mapping), got {tree!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(tree) - set(fields))
    if unknown:
        raise ConfigError(prefix + str(unknown[0]), f"unknown key; allowed under '{prefix.rstrip('.') or 'the top level'}': {', '.join(fields)}")
    values = {}
    for name, value in tree.items():
        values[name] = _parse_value(hints[name], value, prefix + name, fields[name].metadata)
    return cls(**values)


def _parse_value(hint: Any, value: Any, key: str, metadata: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _parse_value(inner, value, key, metadata)
    if dataclasses.is_dataclass(hint):
        return _parse_dataclass(hint, value, key + ".")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(key, f"must be a list, e.g. [1, 2, 3]; got {value!r}")
        return [_parse_value(args[0], item, f"{key}[{i}]", {}) for i, item in enumerate(value)]
    return _check_scalar(hint, value, key, metadata)


def _check_scalar(hint: type, value: Any, key: str, metadata: Any) -> Any:
    type_names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    ok = isinstance(value, hint) and not (hint is int and isinstance(value, bool))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if hint is float and isinstance(value, str):
        # YAML 1.1 reads 1e-3 (no dot) as a string; a number field takes it as the number it means.
        try:
            value, ok = float(value), True
        except ValueError:
            pass
    if not ok:
        raise ConfigError(key, f"must be {type_names.get(hint, hint.__name__)}, got {value!r}")
    low, high, choices = metadata.get("min"), metadata.get("max"), metadata.get("choices", ())
    if choices and value not in choices:
        raise ConfigError(key, f"must be one of {', '.join(choices)}; got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if low is not None and high is not None else f">= {low}" if low is not None else f"<= {high}"
        raise ConfigError(key, f"must be {bounds}, got {value!r}")
    return value
