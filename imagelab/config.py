"""Typed run configuration: dataclasses, YAML presets, dotted overrides, strict checks.

A config is built from (1) the dataclass defaults, which *are* the embedded default
lab, (2) an optional YAML file or bundled preset, and (3) ``key=value`` overrides
whose values are parsed as YAML (``loop.generations=20``,
``data.imbalance.counts=[400,50,5]``). Every key is checked: unknown keys, wrong
types and out-of-range values (declared with ``imagelab.config_fields.bounded``)
raise ConfigError naming the key and what is allowed.

Three sections belong to a plugin chosen by name, and are parsed by that plugin's own
``Config`` dataclass: ``generator`` (named by ``generator.name``), ``regime`` (named by
``loop.regime``) and ``filter`` (named by ``loop.filter``). Settings of a regime or
filter that is not chosen are refused. The flat keys of earlier configs are still
read, as aliases that fill those sections (``LOOP_ALIASES``): ``loop.real_fraction``,
``loop.real_fraction_schedule`` and ``loop.real_source`` (regime mix), ``loop.filter_threshold``
(filter confident: ``filter.threshold``), ``loop.detector_recall`` and
``loop.detector_false_positive_rate`` (filter provenance). The resolved config
(``config.yaml`` of a run) holds only the sections.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from imagelab.config_fields import bounded, local_path
from imagelab.config_parsing import parse_dataclass, parse_field
from imagelab.data import DATASETS
from imagelab.data.split_sizes import RENDERED_SIZES
from imagelab.errors import ConfigError
from imagelab.generators import GENERATORS, GeneratorConfig
from imagelab.judge.model import JudgeConfig
from imagelab.metrics.fid import inception_weights_path
from imagelab.metrics.suite import ChosenMetric, read_extra_metrics
from imagelab.pools.filters import FILTERS, STAGES, FilterConfig
from imagelab.pools.regimes import REGIMES, RegimeConfig, build_regime
from imagelab.registry import Registry
from imagelab.runtime.trackers import TRACKER_NAMES

# Flat loop.* keys of earlier configs (loop.real_fraction is in DESIGN.md's contract), each an alias of a
# field of the regime or filter section: old key -> (section, the built-in plugin that has it, its field).
# An alias with its default value is ignored when that plugin is not chosen (resolved configs of earlier
# runs list them all); any other value is refused then.
LOOP_ALIASES: dict[str, tuple[str, str, str]] = {
    "real_fraction": ("regime", "mix", "real_fraction"),
    "real_fraction_schedule": ("regime", "mix", "real_fraction_schedule"),
    "real_source": ("regime", "mix", "real_source"),
    "filter_threshold": ("filter", "confident", "threshold"),
    "detector_recall": ("filter", "provenance", "detector_recall"),
    "detector_false_positive_rate": ("filter", "provenance", "detector_false_positive_rate"),
}


def preset_dir() -> Path:
    """The YAML presets: configs/ of a source checkout, or its copy installed as imagelab/presets."""
    installed = Path(__file__).parent / "presets"
    return installed if installed.is_dir() else Path(__file__).parent.parent / "configs"


@dataclass
class ImbalanceConfig:
    # exponential: n_i = max_count * ratio^(-i/(C-1)) (the long-tailed CIFAR convention);
    # zipf: n_i = max_count * (i+1)^(-a), a chosen so n_0/n_{C-1} = ratio;
    # step: the first (1 - minority_fraction) of breeds get max_count, the rest max_count/ratio;
    # counts: explicit counts per breed; none: max_count for every breed.
    profile: str = bounded("exponential", choices=("exponential", "zipf", "step", "counts", "none"))
    ratio: float = bounded(100.0, ge=1.0)
    # Images of the pool's largest breed. None: 1000 for the rendered toy dogs; for photos, the largest count
    # whose pool (by the profile) and reference set fit in every breed's photos (imagelab/data/split_sizes.py).
    max_count: int | None = bounded(None, ge=1)
    minority_fraction: float = bounded(0.5, ge=0.0, le=1.0)
    counts: list[int] | None = bounded(None, ge=0)


@dataclass
class DataConfig:
    name: str = "toydogs"
    root: str | None = local_path()  # photos on disk (data.name folder or oxford_pets)
    resolution: int = bounded(32, ge=8, le=1024)
    breeds: list[str] | None = None  # a subset and order of the dataset's breeds; default all
    imbalance: ImbalanceConfig = field(default_factory=ImbalanceConfig)
    # Balanced split the judge learns. None: 300 for the rendered toy dogs; for photos, 30% of the smallest
    # breed's usable photos (imagelab/data/split_sizes.py, docs/datasets.md).
    judge_train_per_breed: int | None = bounded(None, ge=1)
    # Balanced held-out split for the judge's accuracy, threshold, error rates and detection floors: the
    # detectability test's power rests on it (docs/metrics.md). None: 1,000 for the toy dogs; for photos, 20%
    # of the smallest breed's usable photos.
    eval_per_breed: int | None = bounded(None, ge=1)
    # Photos on disk (data.name folder or oxford_pets): a file that cannot be used is skipped and logged, or,
    # with strict, stops the run; photos with a shorter side below min_side pixels count as unusable.
    strict: bool = False
    min_side: int = bounded(8, ge=1)
    download: bool = False  # oxford_pets only: fetch the dataset into data.root (needs network)
    # Which draw of real images the splits (judge splits, reference, pool, reservoir) get. None: the one fixed
    # draw every run shares whatever its seed; an integer: another draw, the same for the same integer.
    # `imagelab run --seeds ... --vary data` sets it to each run's seed (docs/experiments.md).
    seed: int | None = bounded(None, ge=0)

    def __post_init__(self) -> None:
        # A rendered dataset has no photo count to derive sizes from: sizes left out get its fixed defaults
        # here, so the resolved config (config.yaml) holds them. Photo datasets keep None until their photos
        # are counted (build_real_data). An unknown data.name is refused later, naming what exists.
        try:
            dataset = DATASETS.get(self.name)
        except LookupError:
            return
        if getattr(dataset, "rendered", False):
            for name, value in RENDERED_SIZES.items():
                owner = self.imbalance if name == "max_count" else self
                if getattr(owner, name) is None:
                    setattr(owner, name, value)


@dataclass
class LoopConfig:
    generations: int = bounded(10, ge=0, le=10_000)
    regime: str = "replace"  # a registered regime (imagelab list regimes); its settings: the regime section
    filter: str = "none"  # a registered filter (imagelab list filters), applied before data joins a pool
    samples_per_generation: int | None = bounded(None, ge=2)  # default: size of the real pool; FID needs 2+
    warm_start: bool = False  # start each generator from the previous generation's weights

    # parse_dataclass names these in its error for an unknown loop key; config_from_dict takes them out first.
    UNKNOWN_KEY_HINT: ClassVar[str] = "and, filling the regime and filter sections, " + ", ".join(LOOP_ALIASES)


@dataclass
class EvalConfig:
    fid_features: str = bounded("judge", choices=("judge", "inception"))
    # A breed is detectable ("alive") when its judged count is more than the judge's errors on the other
    # breeds' samples alone could give, by a test whose false-alarm rate is detection_alpha
    # (metrics/detectability.py). detection_floor, when set, replaces that test by the earlier rule: detectable
    # while its share of the samples is at least this (a share, not a count).
    detection_alpha: float = bounded(0.05, gt=0.0, lt=1.0)
    detection_floor: float | None = bounded(None, ge=0.0, le=1.0)
    # Inception FID's weights file (torch-fidelity's pt_inception-2015-12-05-6726825d.pth); None: that file in
    # $IMAGELAB_CACHE. Read only with fid_features=inception; a missing file stops the run (nothing is downloaded).
    inception_weights: str | None = local_path()
    nearest_k: int = bounded(5, ge=1)  # k of the k-NN balls of precision/recall/density/coverage
    tail_breeds: int = bounded(3, ge=1)  # tail_mass: share of this many rarest breeds
    grid_samples: int = bounded(64, ge=1, le=1024)  # images in each grid.png
    breed_row_samples: int = bounded(16, ge=1, le=256)  # images per breed row in breeds.png

    # --- extra metrics (imagelab list metrics; docs/extending-metrics.md) ---------------------------
    # Every built-in metric always runs; these run too, their columns after the built-ins'. Each entry is a
    # metric's name (registered, entry point, or module:Class), alone or as {name: ..., <setting>: value}.
    metrics: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.extra_metrics()  # an unknown metric or a bad setting is refused while the config is read

    def extra_metrics(self) -> list[ChosenMetric]:
        """The ``metrics`` entries resolved: each metric's class and its settings, parsed strictly."""
        return read_extra_metrics(self.metrics, "eval.metrics", parse_settings=parse_dataclass)
    # --- end of extra metrics ----------------------------------------------------------------------


@dataclass
class RunConfig:
    seed: int = 0
    device: str = bounded("auto", choices=("auto", "cpu", "cuda", "mps"))
    data: DataConfig = field(default_factory=DataConfig)
    generator: GeneratorConfig = field(default_factory=lambda: GENERATORS.get("vae").Config())
    loop: LoopConfig = field(default_factory=LoopConfig)
    # The settings of the regime loop.regime names and of the filter loop.filter names.
    regime: RegimeConfig = field(default_factory=lambda: REGIMES.get("replace").Config())
    filter: FilterConfig = field(default_factory=lambda: FILTERS.get("none").Config())
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    # Experiment trackers that also get each generation's metrics, fit loss and grid (runtime/trackers.py):
    # any of tensorboard, wandb, mlflow, each an optional extra (pip install 'imagelab[tensorboard]').
    log_with: list[str] = bounded(default_factory=list, choices=TRACKER_NAMES)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# --- building a config -------------------------------------------------------------------------


# What a run without a CONFIG runs: the embedded default lab. A YAML file or mapping that leaves a key out
# gets the dataclass default instead, which is not always the preset's value (the preset fine-tunes).
DEFAULT_PRESET = "toy-vae"


def load_config(source: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """The config of a run: defaults <- YAML file or preset ``source`` (None: DEFAULT_PRESET) <- overrides."""
    tree = read_config_source(source or DEFAULT_PRESET)
    for override in overrides:
        apply_override(tree, override)
    return config_from_dict(tree)


def config_from_dict(tree: dict[str, Any]) -> RunConfig:
    if not isinstance(tree, dict):
        raise ConfigError("config", f"must be a mapping of keys to values, got {type(tree).__name__}")
    tree = dict(tree)
    generator_tree = _section(tree, "generator", "must be a mapping with at least 'name'")
    regime_tree = _section(tree, "regime", "must be a mapping: the settings of the regime loop.regime names")
    filter_tree = _section(tree, "filter", "must be a mapping: the settings of the filter loop.filter names")
    aliased = _take_loop_aliases(tree)
    config = parse_dataclass(RunConfig, tree, "")
    config.generator = _parse_generator(generator_tree)
    config.regime = _parse_chosen(REGIMES, "regime", config.loop.regime, regime_tree, aliased)
    config.filter = _parse_chosen(FILTERS, "filter", config.loop.filter, filter_tree, aliased)
    _check_cross_fields(config)
    return config


def _section(tree: dict[str, Any], name: str, shape: str) -> dict[str, Any]:
    """Remove and return the plugin section ``name`` of ``tree`` (parsed once its plugin is known)."""
    section = tree.pop(name, {}) or {}
    if not isinstance(section, dict):
        raise ConfigError(name, shape)
    return section


def _take_loop_aliases(tree: dict[str, Any]) -> dict[str, Any]:
    """Remove the LOOP_ALIASES keys from ``tree["loop"]`` and return them with their values."""
    loop = tree.get("loop")
    if not isinstance(loop, dict):
        return {}  # no loop section, or one the parser refuses with its own message
    tree["loop"] = {key: value for key, value in loop.items() if key not in LOOP_ALIASES}
    return {key: value for key, value in loop.items() if key in LOOP_ALIASES}


def _parse_generator(tree: dict[str, Any]) -> GeneratorConfig:
    name = tree.get("name", "vae")
    _, config_class = _plugin_and_config(GENERATORS, "generator.name", name, GeneratorConfig)
    # A key of other generators (e.g. sampling_bias, which only generators with a sampling-bias mechanism
    # take) is refused with their names; any other unknown key by the parser, with the keys allowed.
    for key in sorted(set(tree) - _field_names(config_class)):
        users = [entry.name for entry in GENERATORS.entries()
                 if key in _field_names(getattr(entry.obj, "Config", None))]
        if users:
            raise ConfigError(f"generator.{key}", f"is only used by generator {', '.join(users)} (generator is "
                                                  f"'{name}'); remove it or set generator.name={users[0]}")
    return parse_dataclass(config_class, {**tree, "name": name}, "generator.")


def _plugin_and_config(registry: Registry, key: str, name: Any, base: type) -> tuple[Any, type]:
    """The plugin ``key`` names in ``registry``, and its Config dataclass (which must derive from ``base``)."""
    if not isinstance(name, str):
        raise ConfigError(key, f"must be a string, got {name!r}")
    try:
        plugin = registry.get(name)
    except LookupError as error:
        raise ConfigError(key, str(error)) from None
    config_class = getattr(plugin, "Config", None)
    usable = isinstance(config_class, type) and issubclass(config_class, base)
    if not (usable and dataclasses.is_dataclass(config_class)):
        raise ConfigError(key, f"'{name}' has no Config dataclass deriving from {base.__name__}")
    return plugin, config_class


def _parse_chosen(registry: Registry, section: str, name: str, tree: dict[str, Any],
                  aliased: dict[str, Any]) -> Any:
    """The ``section`` (regime or filter), parsed by the Config of the plugin that ``loop.<section>`` names.

    Old flat keys in ``aliased`` fill the section when they belong to the chosen plugin;
    keys of another registered plugin are refused with the name of the plugin they belong to.
    """
    chosen = _config_class(registry, section, name)
    tree, spelled = dict(tree), {}
    for old_key, (target, owner, field_name) in LOOP_ALIASES.items():
        if target != section or old_key not in aliased:
            continue
        if registry.get(owner) is registry.get(name):
            if field_name in tree:
                raise ConfigError(f"loop.{old_key}",
                                  f"and {section}.{field_name} are the same setting; give one of them")
            tree[field_name], spelled[field_name] = aliased[old_key], f"loop.{old_key}"
        else:  # a value for a plugin not chosen: checked as that plugin would, refused unless the default
            owner_config = _config_class(registry, section, owner)
            spec = {spec.name: spec for spec in dataclasses.fields(owner_config)}[field_name]
            value = parse_field(owner_config, field_name, aliased[old_key], f"loop.{old_key}")
            has_factory = spec.default_factory is not dataclasses.MISSING
            default = spec.default_factory() if has_factory else spec.default
            if value != default:
                raise ConfigError(f"loop.{old_key}", _only_used_by(section, [owner], name))
    allowed = [spec.name for spec in dataclasses.fields(chosen)]
    for key in tree:
        if key in allowed:
            continue
        users = [entry.name for entry in registry.entries()
                 if key in _field_names(getattr(entry.obj, "Config", None))]
        if users:
            raise ConfigError(f"{section}.{key}", _only_used_by(section, users, name))
        raise ConfigError(f"{section}.{key}", f"unknown key; {section} {name} takes "
                                              + (f"only: {', '.join(allowed)}" if allowed else "no settings"))
    return parse_dataclass(chosen, tree, f"{section}.", spelled)


def _config_class(registry: Registry, section: str, name: str) -> type:
    """The Config dataclass of the regime or filter ``name``, after checking that it has a usable one."""
    base = {"regime": RegimeConfig, "filter": FilterConfig}[section]
    plugin, config_class = _plugin_and_config(registry, f"loop.{section}", name, base)
    if section == "filter" and getattr(plugin, "stage", None) not in STAGES:
        raise ConfigError("loop.filter", f"'{name}' has no stage; a filter's stage is one of "
                                         f"{', '.join(STAGES)}")
    return config_class


def _field_names(config_class: Any) -> set[str]:
    if not dataclasses.is_dataclass(config_class):
        return set()
    return {spec.name for spec in dataclasses.fields(config_class)}


def _only_used_by(section: str, users: list[str], chosen: str) -> str:
    return (f"is only used by {section} {', '.join(users)} ({section} is '{chosen}'); "
            f"remove it or set loop.{section}={users[0]}")


def _check_cross_fields(config: RunConfig) -> None:
    """Checks that involve more than one key (single keys are checked by their bounds)."""
    imbalance = config.data.imbalance
    if imbalance.profile == "counts" and not imbalance.counts:
        raise ConfigError("data.imbalance.counts", "must list one count per breed when profile is 'counts'")
    if imbalance.counts is not None and imbalance.profile != "counts":
        raise ConfigError("data.imbalance.counts",
                          f"is only used with profile 'counts' (profile is '{imbalance.profile}')")
    if config.eval.fid_features == "inception":
        inception_weights_path(config.eval)  # refuses now, before any work, if the weights file is not local
    build_regime(config).check(config.loop.generations)
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
            raise ConfigError("CONFIG", f"no config file '{source}'; give a YAML path or a preset: "
                                        f"{', '.join(preset_names())}")
        text, where = path.read_text(), str(path)
    else:
        preset = preset_dir() / f"{source}.yaml"
        if not preset.is_file():
            raise ConfigError("CONFIG", f"unknown preset '{source}'; available: {', '.join(preset_names())} "
                                        "(or a YAML path)")
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
