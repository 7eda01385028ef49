"""Bounds on config fields: the one way to declare a setting's allowed range or choices.

Any config dataclass (the run config's sections, a generator's, a regime's or a
filter's ``Config``) declares its limits on the field itself::

    from dataclasses import dataclass
    from imagelab.config_fields import bounded

    @dataclass
    class Config:
        strength: float = bounded(0.5, ge=0.0, le=1.0)  # a share, in [0, 1]
        lr: float = bounded(1e-3, gt=0.0)  # strictly positive
        mode: str = bounded("soft", choices=("soft", "hard"))
        sizes: list[int] = bounded(default_factory=lambda: [4, 8], ge=1)  # every item >= 1
        label: str | None = None  # no bounds: only its type is checked

The config parser (``imagelab.config_parsing``) checks every field's type and bounds when it
reads YAML or ``key=value`` overrides, and names the key in its ConfigError; ``None``
passes the bounds of an optional field, and the bounds of a list field hold for each
item. ``check_bounds(self, "generator.")`` in a ``__post_init__`` applies the same
checks to a config built directly in Python. Rules that tie several fields together
belong in ``__post_init__``, raising ``ConfigError(key, message)``.

A setting that names a file or folder on this machine is declared with ``local_path()``
(``weights: str | None = local_path()``): a run stores it as an absolute path in its
config.yaml (imagelab/preflight.py), so resuming from another working directory finds
the same file.

The plain metadata dicts of earlier plugins (``field(default=1, metadata={"min": 1,
"max": 9, "choices": (...)})``) are read as the inclusive bounds they mean.
This module is plumbing: it imports nothing of the lab but its errors, so any layer may use it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import MISSING, dataclass
from typing import Any

from imagelab.errors import ConfigError

BOUNDS = "imagelab.bounds"  # the key of a field's Bounds in its dataclass metadata
LOCAL_PATH = "imagelab.local_path"  # marks a field whose value is a path on this machine


@dataclass(frozen=True)
class Bounds:
    """The values a setting allows: inclusive (ge, le) or strict (gt, lt) limits, or a list of choices."""

    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] = ()

    def check(self, value: Any, key: str) -> None:
        """Raise ConfigError naming ``key`` unless ``value`` is within these bounds (None always is)."""
        if value is None:
            return
        if self.choices and value not in self.choices:
            raise ConfigError(key, f"must be one of {self.describe_choices()}; got {value!r}")
        if not self._holds(value):
            raise ConfigError(key, f"must be {self.describe()}, got {value!r}")

    def _holds(self, value: Any) -> bool:
        return not ((self.ge is not None and value < self.ge) or (self.le is not None and value > self.le)
                    or (self.gt is not None and value <= self.gt)
                    or (self.lt is not None and value >= self.lt))

    def describe_choices(self) -> str:
        """The choices as a user writes them in YAML: 'auto, true, false'."""
        return ", ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in self.choices)

    def describe(self) -> str:
        """The limits in words: 'between 0.0 and 1.0', '>= 1', '> 0.0 and <= 1.0'."""
        if self.ge is not None and self.le is not None:
            return f"between {self.ge} and {self.le}"
        limits = ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
        parts = [f"{sign} {limit}" for sign, limit in limits if limit is not None]
        return " and ".join(parts) or "any value"

    @classmethod
    def of(cls, spec: dataclasses.Field) -> Bounds | None:
        """The bounds declared on a field: by ``bounded``, or as a plain {"min", "max", "choices"} dict."""
        declared = spec.metadata.get(BOUNDS)
        if declared is not None:
            return declared
        legacy = {key: spec.metadata.get(key) for key in ("min", "max", "choices")}
        if all(value is None for value in legacy.values()):
            return None
        return cls(ge=legacy["min"], le=legacy["max"], choices=tuple(legacy["choices"] or ()))


def bounded(default: Any = MISSING, *, ge: float | None = None, le: float | None = None,
            gt: float | None = None, lt: float | None = None, choices: tuple[Any, ...] = (),
            default_factory: Callable[[], Any] | Any = MISSING, **field_options: Any) -> Any:
    """A dataclass field with ``default`` (or ``default_factory``) whose values must lie within the bounds."""
    metadata = {**field_options.pop("metadata", {}), BOUNDS: Bounds(ge, le, gt, lt, tuple(choices))}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata,
                             **field_options)


def local_path(default: str | None = None, **field_options: Any) -> Any:
    """A dataclass field holding a file or folder path on this machine (None: not set); stored absolute."""
    metadata = {**field_options.pop("metadata", {}), LOCAL_PATH: True}
    return dataclasses.field(default=default, metadata=metadata, **field_options)


def is_local_path(spec: dataclasses.Field) -> bool:
    """True for a field declared with ``local_path``."""
    return bool(spec.metadata.get(LOCAL_PATH))


def check_bounds(config: Any, prefix: str = "") -> None:
    """Check every bounded field of the dataclass instance ``config``; keys are named ``prefix + field``."""
    for spec in dataclasses.fields(config):
        bounds = Bounds.of(spec)
        if bounds is None:
            continue
        value = getattr(config, spec.name)
        if isinstance(value, list):
            for position, item in enumerate(value):
                bounds.check(item, f"{prefix}{spec.name}[{position}]")
        else:
            bounds.check(value, prefix + spec.name)
