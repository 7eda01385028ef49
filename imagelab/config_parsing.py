"""The one strict parser of every config section: a dataclass instance from a YAML tree.

Every key must be a field of the dataclass, every value of the field's type (an int
passes as a float; so does a YAML 1.1 string such as ``1e-3``) and within its
``imagelab.config_fields.bounded`` limits; nested dataclasses, optional and union
fields and lists are parsed recursively. Errors are ConfigErrors naming the dotted key.
A dataclass may name keys it also takes (read and removed before parsing, such as the
run config's loop aliases) in a class attribute ``UNKNOWN_KEY_HINT``, which the
unknown-key error then lists too.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from imagelab.config_fields import Bounds
from imagelab.errors import ConfigError


def parse_dataclass(cls: type, tree: Any, prefix: str, spelled: dict[str, str] | None = None) -> Any:
    """An instance of the dataclass ``cls`` from ``tree``: the one strict parser of every config section.

    Every key must be a field, every value of its type and within its ``bounded`` limits;
    keys are named ``prefix + field`` in errors, or as ``spelled`` gives them (an alias the user wrote).
    """
    if not isinstance(tree, dict):
        raise ConfigError(prefix.rstrip(".") or "config", f"must be a section (a mapping), got {tree!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(tree) - set(fields))
    if unknown:
        allowed = ", ".join(fields)
        hint = getattr(cls, "UNKNOWN_KEY_HINT", None)  # keys the section also takes before parsing, e.g. aliases
        if hint:
            allowed += f"; {hint}"
        where = prefix.rstrip(".") or "the top level"
        raise ConfigError(prefix + str(unknown[0]), f"unknown key; allowed under '{where}': {allowed}")
    values = {}
    for name, value in tree.items():
        key = (spelled or {}).get(name, prefix + name)
        values[name] = _parse_value(hints[name], value, key, Bounds.of(fields[name]))
    return cls(**values)


def parse_field(cls: type, name: str, value: Any, key: str) -> Any:
    """``value`` parsed as the field ``name`` of the dataclass ``cls`` would be; errors name ``key``."""
    spec = {f.name: f for f in dataclasses.fields(cls)}[name]
    return _parse_value(typing.get_type_hints(cls)[name], value, key, Bounds.of(spec))


def _parse_value(hint: Any, value: Any, key: str, bounds: Bounds | None) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) > 1:  # e.g. bool | str for a switch that is true, false or "auto": the value's own type
            matching = [a for a in inner if isinstance(value, a) and not (a is int and isinstance(value, bool))]
            if not matching:
                raise ConfigError(key, f"must be one of {bounds.describe_choices()}; got {value!r}"
                                  if bounds is not None and bounds.choices else f"has the wrong type: {value!r}")
            inner = matching[:1]
        return _parse_value(inner[0], value, key, bounds)
    if dataclasses.is_dataclass(hint):
        return parse_dataclass(hint, value, key + ".")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(key, f"must be a list, e.g. [1, 2, 3]; got {value!r}")
        # The bounds of a list hold for each of its items.
        return [_parse_value(args[0], item, f"{key}[{i}]", bounds) for i, item in enumerate(value)]
    value = _check_type(hint, value, key)
    if bounds is not None:
        bounds.check(value, key)
    return value


def _check_type(hint: type, value: Any, key: str) -> Any:
    """``value`` as a ``hint`` (an int passes as a float, and so does a YAML string like 1e-3)."""
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
    return value
