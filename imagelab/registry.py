"""Registry: one per plugin kind, filled by a decorator, extended by entry points.

Built-in entries register at import time with ``@REGISTRY.register("name")``.
Third-party entries come from an entry-point group (looked up lazily: only when
a name is not built in, or when listing) or from a ``package.module:Class`` path.
A plugin that fails to load, or that names something the registry does not accept
(its ``validate`` function, say a function where a class is needed), is reported in
``broken`` with the file and line its error was raised at, and never breaks the rest;
``load_errors`` keeps the exceptions for ``--debug``. Set
``IMAGELAB_DISABLE_PLUGIN_AUTOLOAD=1`` to skip entry points altogether.
"""

from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable, Generic, TypeVar

from imagelab.runtime.tracebacks import DEBUG_HINT, raised_at

T = TypeVar("T")

DISABLE_AUTOLOAD_ENV = "IMAGELAB_DISABLE_PLUGIN_AUTOLOAD"


class RegistryError(LookupError):
    """An unknown or unloadable name; the message lists what is available."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    source: str  # "built-in", "entry point <dist>", or "path <module:Class>"
    distribution: str | None = None  # the installed package an entry point comes from, if known
    version: str | None = None  # that package's version

    @property
    def location(self) -> str:
        """Where the object is defined, as ``module:qualname``."""
        return _where(self.obj, separator=":")


class Registry(Generic[T]):
    """Named objects of one kind; ``validate(obj)`` returns why ``obj`` cannot be one (None: it can)."""

    def __init__(self, kind: str, entry_point_group: str | None = None,
                 validate: Callable[[Any], str | None] | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.validate = validate
        self._entries: dict[str, Entry[T]] = {}
        self._plugins_loaded = False
        self.broken: dict[str, str] = {}  # plugin name -> why it failed to load
        self.load_errors: dict[str, BaseException] = {}  # plugin name -> the exception its import raised

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name``; a duplicate name is an error."""

        def decorator(obj: T) -> T:
            self._add(name, obj, "built-in")
            return obj

        return decorator

    def _add(self, name: str, obj: T, source: str, distribution: str | None = None,
             version: str | None = None) -> None:
        refusal = self._refusal(obj)
        if refusal is not None:
            raise RegistryError(f"{self.kind} '{name}' ({source}): {refusal}")
        if name in self._entries:
            first = self._entries[name]
            raise RegistryError(
                f"{self.kind} '{name}' is registered twice: first by {_where(first.obj)} ({first.source}), "
                f"again by {_where(obj)} ({source})"
            )
        self._entries[name] = Entry(name, obj, source, distribution, version)

    def _refusal(self, obj: Any) -> str | None:
        return self.validate(obj) if self.validate is not None else None

    def _load_plugins(self) -> None:
        if self._plugins_loaded or self.entry_point_group is None:
            return
        self._plugins_loaded = True
        if autoload_disabled():
            return
        for ep in entry_points(group=self.entry_point_group):
            if ep.name in self._entries:
                continue  # a built-in keeps its name; the plugin is shadowed
            try:
                obj = ep.load()
            except Exception as error:  # a broken plugin must not break the others
                self.broken[ep.name] = f"{ep.value}: {_one_line(error)}"
                self.load_errors[ep.name] = error
                continue
            refusal = self._refusal(obj)
            if refusal is not None:
                self.broken[ep.name] = f"{ep.value}: {refusal}"
                continue
            dist = getattr(ep, "dist", None)
            self._add(ep.name, obj, f"entry point {dist.name if dist else ep.value}",
                      dist.name if dist else None, dist.version if dist else None)

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
            raise RegistryError(f"{self.kind} plugin '{name}' failed to load: {self.broken[name]}") \
                from self.load_errors.get(name)
        unknown = f"unknown {self.kind} '{name}'; available: {', '.join(self.names())}"
        if self.entry_point_group is not None and autoload_disabled():
            unknown += (f"; plugins are switched off ({DISABLE_AUTOLOAD_ENV}="
                        f"{os.environ[DISABLE_AUTOLOAD_ENV]}): unset it to use an installed plugin, "
                        f"or name the class as package.module:Class")
        raise RegistryError(unknown)

    def entry(self, name: str) -> Entry[T] | None:
        """The entry registered as ``name`` (built-in or entry point), or None (a ``module:Class`` path, unknown)."""
        if name not in self._entries and ":" not in name:
            self._load_plugins()
        return self._entries.get(name)

    def _load_path(self, path: str) -> T:
        module_name, _, attr = path.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as error:
            raise RegistryError(f"{self.kind} '{path}': cannot import module '{module_name}': "
                                f"{_one_line(error)}") from error
        if not hasattr(module, attr):
            raise RegistryError(f"{self.kind} '{path}': module '{module_name}' has no attribute '{attr}'")
        obj = getattr(module, attr)
        refusal = self._refusal(obj)
        if refusal is not None:
            raise RegistryError(f"{self.kind} '{path}': {refusal}")
        return obj

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        self._load_plugins()
        return [self._entries[n] for n in sorted(self._entries)]


def autoload_disabled() -> bool:
    """True when ``IMAGELAB_DISABLE_PLUGIN_AUTOLOAD`` switches entry-point plugins off."""
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "") not in ("", "0")


def _one_line(error: BaseException) -> str:
    """``Type: message (raised at file:line; how to see the traceback)``, for a plugin that failed to import."""
    where = raised_at(error, ignore=(__file__,))
    at = f"raised at {where}; " if where else ""
    return f"{type(error).__name__}: {error} ({at}{DEBUG_HINT})"


def _where(obj: Any, separator: str = ".") -> str:
    module = inspect.getmodule(obj)
    return f"{module.__name__ if module else '?'}{separator}{getattr(obj, '__qualname__', repr(obj))}"


def first_docstring_line(obj: Any) -> str:
    """The first line of ``obj``'s docstring, or its name: what ``imagelab list -v`` shows of an entry."""
    doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
    return doc[0] if doc else getattr(obj, "__name__", repr(obj))
