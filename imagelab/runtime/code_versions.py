"""Which installed code a run's plugins come from: each one's distribution and version, for the manifest.

A run's numbers depend on the code of its generator, regime, filter, dataset and extra
metrics as much as on its config. The manifest records, for each of them, the
distribution that provides it (what ``pip install`` installed) and that distribution's
version; a resume compares them with what is installed now (runs/folder.py), so stages
made by one version of a plugin are not silently continued by another.

Where a plugin's code comes from:

- a built-in (a module of imagelab itself): the ``imagelab`` distribution;
- an entry-point plugin: the distribution that declares the entry point (``Entry.distribution``);
- a ``module:Class`` path, or a class registered in the process: the distribution that owns
  the module's top-level package (``importlib.metadata.packages_distributions``), or none
  for a module on ``sys.path`` that no distribution installed (its version cannot be told).
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, distributions, packages_distributions, version
from typing import Any

from imagelab.registry import Registry

LAB_DISTRIBUTION = "imagelab"


@dataclass(frozen=True)
class CodeSource:
    """The code behind one plugin a run uses: ``role`` (generator, regime, ...) ``name`` from ``module``."""

    role: str
    name: str
    module: str
    distribution: str | None  # None: a module that no installed distribution owns
    version: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def key(self) -> tuple[str, str]:
        return self.role, self.name

    @property
    def label(self) -> str:
        return f"{self.role} {self.name}"


@dataclass(frozen=True)
class CodeChange:
    """A distribution whose installed version differs from the one recorded when the run was made."""

    distribution: str
    recorded: str | None
    installed: str | None
    provides: tuple[str, ...]  # what the run takes from it: "generator pixel-gaussian", ...

    @property
    def is_plugin(self) -> bool:
        """True for third-party code; imagelab's own versions are recorded, not refused (docs/run-folder.md)."""
        return bool(self.provides) and self.distribution != LAB_DISTRIBUTION

    def describe(self) -> str:
        """'foo 0.1.0 -> 0.2.0 (generator foo)'."""
        provides = f" ({', '.join(self.provides)})" if self.provides else ""
        return f"{self.distribution} {self.recorded or 'none'} -> {self.installed or 'none'}{provides}"

    def to_dict(self, when: str) -> dict[str, Any]:
        return {"distribution": self.distribution, "recorded": self.recorded, "installed": self.installed,
                "provides": list(self.provides), "at": when}


def code_source(role: str, name: str, registry: Registry) -> CodeSource:
    """Where the plugin ``name`` of ``registry`` comes from; ``name`` must resolve (the config checked it)."""
    obj = registry.get(name)
    module = getattr(inspect.getmodule(obj), "__name__", None) or getattr(obj, "__module__", "?")
    package = module.split(".")[0]
    if package == LAB_DISTRIBUTION:
        distribution: str | None = LAB_DISTRIBUTION
    else:
        distribution = _entry_point_distribution(registry, name) or _owning_distribution(package)
    return CodeSource(role, name, module, distribution, installed_version(distribution))


def installed_version(distribution: str | None) -> str | None:
    """The installed version of ``distribution``, or None when it is not installed (or unnamed)."""
    if distribution is None:
        return None
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def _entry_point_distribution(registry: Registry, name: str) -> str | None:
    """The installed distribution whose entry point registered ``name``, if an entry point did."""
    entry = registry.entry(name)
    distribution = entry.distribution if entry is not None else None
    return distribution if installed_version(distribution) is not None else None


def _owning_distribution(package: str) -> str | None:
    """The distribution that installed the top-level ``package`` (the first by name if several share it)."""
    # top_level.txt (setuptools) is a few bytes per distribution; packages_distributions() reads every
    # distribution's file list (seconds with a large environment), so it is only the fallback.
    owners = [dist.metadata["Name"] for dist in distributions()
              if package in (dist.read_text("top_level.txt") or "").split()]
    owners = owners or packages_distributions().get(package, [])
    return sorted(owners)[0] if owners else None


def code_changes(recorded: list[dict[str, Any]], current: list[CodeSource],
                 recorded_packages: dict[str, str], current_packages: dict[str, str]) -> list[CodeChange]:
    """The distributions whose versions differ between a run's manifest and this process, one change each.

    ``recorded`` is the manifest's ``code`` list (CodeSource dicts), ``current`` the same for now;
    the packages are the manifest's ``versions`` (torch, timm, ...), compared too but only recorded.
    A plugin recorded without a distribution has no version to compare.
    """
    before = {(entry["role"], entry["name"]): entry for entry in recorded}
    changed: dict[str, dict[str, Any]] = {}
    for source in current:
        old = before.get(source.key)
        if old is None or (old.get("distribution"), old.get("version")) == (source.distribution, source.version):
            continue
        for distribution, recorded_version, installed in _sides(old, source):
            change = changed.setdefault(distribution, {"recorded": recorded_version, "installed": installed,
                                                       "provides": []})
            change["provides"].append(source.label)
    for package, recorded_version in recorded_packages.items():
        installed = current_packages.get(package)
        if package not in changed and installed is not None and installed != recorded_version:
            changed[package] = {"recorded": recorded_version, "installed": installed, "provides": []}
    return [CodeChange(distribution, change["recorded"], change["installed"], tuple(change["provides"]))
            for distribution, change in sorted(changed.items())]


def _sides(old: dict[str, Any], new: CodeSource) -> list[tuple[str, str | None, str | None]]:
    """(distribution, recorded version, installed version) for a plugin whose code changed.

    The same distribution at another version gives one; a plugin now provided by another
    distribution gives both (the old one's installed version read afresh).
    """
    old_distribution = old.get("distribution")
    if old_distribution == new.distribution:
        return [(new.distribution, old.get("version"), new.version)]
    sides = []
    if old_distribution is not None:
        sides.append((old_distribution, old.get("version"), installed_version(old_distribution)))
    if new.distribution is not None:
        sides.append((new.distribution, None, new.version))
    return sides
