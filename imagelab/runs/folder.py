"""The run folder: resolved config, manifest, metrics.csv, log, one folder per generation.

Every file is written atomically (runs/atomic.py). The manifest
records which stages of which generation are complete; a re-run with the same
config resumes after the last of them, a re-run with another config is refused.
It also records the code that made the run (runtime/code_versions.py): a re-run
with another version of a plugin's distribution is refused unless allowed, and an
allowed change is kept in the manifest's ``code_changes``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from imagelab.errors import RunFolderError, UserError
from imagelab.runs import lock as run_lock
from imagelab.runs.atomic import atomic_write_text
from imagelab.runs.layout import CONFIG_FILE, MANIFEST_FILE, METRICS_FILE, generation_folder_name
from imagelab.runtime.code_versions import CodeChange, CodeSource, code_changes

ALLOW_CODE_CHANGE = "--allow-code-change (imagelab.run(..., allow_code_change=True))"


class RunFolder:
    def __init__(self, root: Path, manifest: dict[str, Any], writes: bool = True) -> None:
        self.root = root
        self.manifest = manifest
        self.writes = writes  # False in the other processes of a multi-process run: only the main one writes
        self.code_changes: list[CodeChange] = []  # versions that changed since the run was made, found by open()

    @classmethod
    def open(cls, root: Path, config: dict[str, Any], versions: dict[str, str],
             resolve: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
             code: list[CodeSource] | None = None, allow_code_change: bool = False) -> RunFolder:
        """Create ``root`` for ``config``, or reopen it to resume if it holds the same config.

        ``resolve`` re-reads a stored config with today's defaults and key layout (the config
        parser's job), so a folder written by an earlier version whose config means the same
        resumes; its config.yaml is then rewritten in today's resolved form.
        ``code`` is where the run's plugins come from now (None: not checked); a resume whose
        recorded plugin versions differ is refused (RunFolderError, nothing written) unless
        ``allow_code_change``.
        """
        root = root.expanduser().resolve()
        config_path = root / CONFIG_FILE
        stored_form_is_old = False
        if config_path.exists():
            stored_form_is_old = _refuse_other_config(config_path, config, resolve)
        elif root.exists() and any(p.name != run_lock.LOCK_FILE for p in root.iterdir()):
            raise RunFolderError(f"{root} is not empty and holds no imagelab run ({CONFIG_FILE} missing); "
                                 "choose another --out")
        try:
            root.mkdir(parents=True, exist_ok=True)
            _refuse_unwritable(root)
            # From here on this process is the folder's only writer (released by close() or at exit).
            run_lock.acquire(root)
            _remove_stale_temporaries(root)
            manifest = json.loads((root / MANIFEST_FILE).read_text()) if (root / MANIFEST_FILE).exists() else None
            folder = cls(root, manifest or _new_manifest(versions, code))
            if manifest and code is not None:
                folder.code_changes = _accept_code(root, manifest, versions, code, allow_code_change)
            if not config_path.exists() or stored_form_is_old:
                atomic_write_text(config_path, yaml.safe_dump(config, sort_keys=False))
            folder.save_manifest()
        except OSError as error:
            run_lock.release(root)
            raise RunFolderError(f"cannot write the run folder {root}: {error.strerror or error}; "
                                 "make it (or the folder it goes in) writable, or choose another --out") from None
        except BaseException:
            run_lock.release(root)  # refused (or interrupted) before anything was written: the folder is free
            raise
        return folder

    @classmethod
    def follow(cls, root: Path) -> RunFolder:
        """The folder as the other processes of a multi-process run see it, once the main process has opened it.

        They read the manifest the main process wrote (so all agree on what to resume)
        and keep their own copy of it up to date, but never write a file.
        """
        root = root.expanduser().resolve()
        return cls(root, json.loads((root / MANIFEST_FILE).read_text()), writes=False)

    def close(self) -> None:
        """Release the folder's lock so another process may resume it."""
        if self.writes:
            run_lock.release(self.root)

    def generation_dir(self, generation: int) -> Path:
        path = self.root / generation_folder_name(generation)
        path.mkdir(exist_ok=True)
        return path

    # Stages ----------------------------------------------------------------------------------

    def _generation_record(self, generation: int) -> dict[str, Any]:
        return self.manifest["generations"].setdefault(str(generation), {"stages": {}})

    def stage_done(self, generation: int, stage: str) -> bool:
        return stage in self._generation_record(generation)["stages"]

    def stage_info(self, generation: int, stage: str) -> dict[str, Any]:
        return self._generation_record(generation)["stages"][stage]

    def mark_stage(self, generation: int, stage: str, seconds: float, **info: Any) -> None:
        """Record a finished stage; call only after its artifacts are in place."""
        self._generation_record(generation)["stages"][stage] = {"seconds": round(seconds, 3), **info}
        self.save_manifest()

    def set(self, key: str, value: Any) -> None:
        self.manifest[key] = value
        self.save_manifest()

    def save_manifest(self) -> None:
        if not self.writes:
            return
        self.manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        atomic_write_text(self.root / MANIFEST_FILE, json.dumps(self.manifest, indent=2))

    # Metrics ---------------------------------------------------------------------------------

    def write_metrics_csv(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite metrics.csv from the rows of all complete generations."""
        if not self.writes:
            return
        columns: list[str] = []
        for row in rows:
            columns += [c for c in row if c not in columns]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.root / METRICS_FILE, buffer.getvalue())


def claim_folder_of_runs(out: Path, marker: str, made_by: str, note: str,
                         error: type[UserError] = RunFolderError) -> None:
    """Make ``out`` a folder of several runs: new, empty, or one ``made_by`` made before (it holds ``marker``).

    A foreign non-empty folder or a file is refused with ``error``; ``note`` goes into the marker file.
    """
    if out.exists() and not out.is_dir():
        raise error(f"--out {out} is a file; choose a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / marker).exists():
        raise error(f"--out {out} is not empty and holds no earlier {made_by}; choose a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / marker).write_text(note)


def _new_manifest(versions: dict[str, str], code: list[CodeSource] | None) -> dict[str, Any]:
    return {
        "status": "running",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": versions,
        "code": [source.to_dict() for source in code or []],
        "generations": {},
    }


def _accept_code(root: Path, manifest: dict[str, Any], versions: dict[str, str],
                 code: list[CodeSource], allowed: bool) -> list[CodeChange]:
    """Compare the code that made the run with ``code`` now; refuse a changed plugin unless ``allowed``.

    Accepted changes (imagelab's own and the packages' are always accepted) are appended to the
    manifest's ``code_changes`` and the recorded versions become today's; returns them.
    A manifest of an earlier version without ``code`` starts recording it now.
    """
    changes = code_changes(manifest.get("code", []), code, manifest.get("versions", {}), versions)
    refused = [change for change in changes if change.is_plugin]
    if refused and not allowed:
        made_with = "; ".join(f"{change.distribution} {change.recorded or '(none)'} ({', '.join(change.provides)}), "
                              f"and {change.installed or 'none'} is installed now" for change in refused)
        first = refused[0]
        reinstall = (f"pip install '{first.distribution}=={first.recorded}'" if first.recorded
                     else f"pip uninstall {first.distribution}")
        raise RunFolderError(
            f"{root} was made with {made_with}: its finished stages came from other code. To resume, install "
            f"the recorded version again ({reinstall}), or resume anyway with {ALLOW_CODE_CHANGE}, which records "
            f"the change in {MANIFEST_FILE}; or choose another --out")
    when = time.strftime("%Y-%m-%dT%H:%M:%S")
    if changes:
        manifest.setdefault("code_changes", []).extend(change.to_dict(when) for change in changes)
    manifest["versions"] = {**manifest.get("versions", {}), **versions}
    manifest["code"] = [source.to_dict() for source in code]
    return changes


def _refuse_unwritable(root: Path) -> None:
    """Refuse before any work if a folder of the run cannot be written (atomic writes need every folder)."""
    for directory, _, _ in os.walk(root):
        if not os.access(directory, os.W_OK | os.X_OK):
            raise RunFolderError(f"{directory} is not writable, so this run cannot be written or resumed; "
                                 f"make it writable (chmod -R u+w {root}) or choose another --out")


def _remove_stale_temporaries(root: Path) -> None:
    """Delete half-written files a killed process left (``.NAME.tmp-PID``); call only while holding the lock."""
    for path in sorted(root.rglob(".*.tmp-*"), reverse=True):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()


def _refuse_other_config(config_path: Path, config: dict[str, Any],
                         resolve: Callable[[dict[str, Any]], dict[str, Any]] | None) -> bool:
    """Refuse a folder whose stored config differs from ``config``; True if it only differs in form."""
    try:
        existing = yaml.safe_load(config_path.read_text())
    except yaml.YAMLError:
        raise RunFolderError(f"{config_path} is not valid YAML; this folder cannot be resumed, "
                             "choose another --out") from None
    if existing == config:
        return False
    if resolve is not None and isinstance(existing, dict):
        try:
            existing = resolve(existing)
        except UserError:
            pass  # a stored config today's parser refuses: compare it as written, and name the differences
    differences = _differences(existing, config)
    if differences:
        shown = "; ".join(differences[:5]) + (f"; and {len(differences) - 5} more" if len(differences) > 5 else "")
        raise RunFolderError(
            f"{config_path.parent} holds a run with another config ({shown}); "
            "resume it with the same config, or choose another --out"
        )
    return True


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config trees, as 'key: old -> new'."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in list(old) + [k for k in new if k not in old]:
            found += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return found
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]
