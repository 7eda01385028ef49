"""Registry: one per plugin kind, filled by a decorator, extended by entry points.

Built-in entries register at import time with ``@REGISTRY.register("name")``.
Third-party entries come from an entry-point group (looked up lazily: only when
a name is not built in, or when listing) or from a ``package.module:Class`` path.
A plugin that fails to load is reported in ``broken`` and never breaks the rest.
Set ``IMAGELAB_DISABLE_PLUGIN_AUTOLOAD=1`` to skip entry points altogether.
"""

from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")

DISABLE_AUTOLOAD_ENV = "IMAGELAB_DISABLE_PLUGIN_AUTOLOAD"


class RegistryError(LookupError):
    """An unknown or unloadable name; the message lists what is available."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    source: str  # "built-in", "entry point <dist>", or "path <module:Class>"

    @property
    def location(self) -> str:
        """Where the object is defined, as ``module:qualname``."""
        return _where(self.obj, separator=":")


class Registry(Generic[T]):
    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, Entry[T]] = {}
        self._plugins_loaded = False
        self.broken: dict[str, str] = {}  # plugin name -> why it failed to load

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name``; a duplicate name is an error."""

        def decorator(obj: T) -> T:
            self._add(name, obj, "built-in")
            return obj

        return decorator

    def _add(self, name: str, obj: T, source: str) -> None:
        if name in self._entries:
            first = self._entries[name]
            raise RegistryError(
                f"{self.kind} '{name}' is registered twice: first by {_where(first.obj)} ({first.source}), "
                f"again by {_where(obj)} ({source})"
            )
        self._entries[name] = Entry(name, obj, source)

    def _load_plugins(self) -> None:
        if self._plugins_loaded or self.entry_point_group is None:
            return
        self._plugins_loaded = True
        if os.environ.get(DISABLE_AUTOLOAD_ENV, "") not in ("", "0"):
            return
        for ep in entry_points(group=self.entry_point_group):
            if ep.name in self._entries:
                continue  # a built-in keeps its name; the plugin is shadowed
            try:
                obj = ep.load()
            except Exception as error:  # a broken plugin must not break the others
                self.broken[ep.name] = f"{ep.value}: {type(error).__name__}: {error}"
                continue
            dist = getattr(ep, "dist", None)
            self._add(ep.name, obj, f"entry point {dist.name if dist else ep.value}")

    def get(self, name: str) -> T:
        """Look up ``name``: built-in, then entry-point plugins, then a ``module:Class`` path."""
        if name in self._entries:
            return self._entries[name].obj
        if ":" in name:
            return self._load_path(name)
        self._load_plugins()
        if name in self._entries:
            return self._entries[name].obj
        if name in self.broken:
            raise RegistryError(f"{self.kind} plugin '{name}' failed to load: {self.broken[name]}")
        raise RegistryError(f"unknown {self.kind} '{name}'; available: {', '.join(self.names())}")

    def _load_path(self, path: str) -> T:
        module_name, _, attr = path.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as error:
            raise RegistryError(f"{self.kind} '{path}': cannot import module '{module_name}': {error}") from None
        if not hasattr(module, attr):
            raise RegistryError(f"{self.kind} '{path}': module '{module_name}' has no attribute '{attr}'")
        return getattr(module, attr)

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        self._load_plugins()
        return [self._entries[n] for n in sorted(self._entries)]


def _where(obj: Any, separator: str = ".") -> str:
    module = inspect.getmodule(obj)
    return f"{module.__name__ if module else '?'}{separator}{getattr(obj, '__qualname__', repr(obj))}"


def first_docstring_line(obj: Any) -> str:
    """The first line of ``obj``'s docstring, or its name: what ``imagelab list -v`` shows of an entry."""
    doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
    return doc[0] if doc else getattr(obj, "__name__", repr(obj))
