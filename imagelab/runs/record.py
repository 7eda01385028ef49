"""Read a run folder for a report, tolerating whatever a killed or running run left behind.

Nothing here raises on a missing or unreadable file inside a run: it is recorded
as missing (``RunRecord.problems``, ``GenerationRecord.missing``) so the page can
say so. Only a path that is not a run folder at all raises RunFolderError.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from imagelab.errors import RunFolderError
from imagelab.runs.layout import (
    BREEDS_FILE,
    CONFIG_FILE,
    GENERATION_METRICS_FILE,
    GRID_FILE,
    JUDGEMENT_FILE,
    MANIFEST_FILE,
    METRICS_FILE,
    SAMPLES_FILE,
    generation_folder_name,
)

GENERATION_FILES = (GRID_FILE, BREEDS_FILE, SAMPLES_FILE, JUDGEMENT_FILE)
RUN_MARKERS = (CONFIG_FILE, MANIFEST_FILE, METRICS_FILE)  # a folder with none of these is no run
UNRECOGNIZED = "unrecognized"
FALLBACK_FLOOR = 0.002  # for a run folder that recorded no detection floors and configured none


@dataclass
class GenerationRecord:
    generation: int
    folder: Path
    row: dict[str, Any] | None  # its metrics row, None when not measured (yet)
    stages: dict[str, dict]  # manifest stages that completed: fit, sample, judge, metrics
    files: dict[str, Path]  # the files of GENERATION_FILES that exist
    missing: list[str]  # what a finished generation would have and this one lacks

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def seconds(self) -> float:
        return sum(float(stage["seconds"]) for stage in self.stages.values() if _finite(stage.get("seconds")))


@dataclass
class RunRecord:
    root: Path
    config: dict[str, Any]  # empty when config.yaml is missing or unreadable
    manifest: dict[str, Any]  # likewise for manifest.json
    judge: dict[str, Any]  # judge/judge.json, or the manifest's judge entry
    rows: list[dict[str, Any]]  # metrics rows of measured generations, in order
    breeds: tuple[str, ...]
    generations: list[GenerationRecord]  # every planned or present generation, in order
    problems: list[str] = field(default_factory=list)  # run-level files that are missing or unreadable

    @property
    def name(self) -> str:
        return self.root.name

    def section(self, name: str) -> dict[str, Any]:
        """A config section (``data``, ``loop``, ...), {} when absent or malformed."""
        return mapping(self.config.get(name))

    @property
    def status(self) -> str:
        return str(self.manifest.get("status", "unknown"))

    @property
    def planned_generations(self) -> int | None:
        planned = self.section("loop").get("generations")
        return int(planned) if isinstance(planned, int) else None

    @property
    def detection_floors(self) -> dict[str, float]:
        """Each breed's detection floor: as the run recorded it, else the config's common floor."""
        recorded = mapping(self.manifest.get("detection_floors"))
        configured = self.section("eval").get("detection_floor")
        fallback = float(configured) if _finite(configured) else FALLBACK_FLOOR
        return {breed: float(recorded[breed]) if _finite(recorded.get(breed)) else fallback for breed in self.breeds}

    @property
    def samples_per_generation(self) -> int | None:
        """N of the neutral-drift reference: images sampled per generation."""
        configured = self.section("loop").get("samples_per_generation")
        if isinstance(configured, int):
            return configured
        counts = [int(row["samples"]) for row in self.rows if _finite(row.get("samples"))]
        return counts[-1] if counts else None

    @property
    def drift_population(self) -> int | None:
        """N of the Wright-Fisher band, or None where that null does not apply.

        The band is the null of a loop that replaces its pool by N fresh samples each
        generation; with real data mixed in (or pools accumulated) drift is slower and
        the band would mislead; so would a filter.
        """
        loop = self.section("loop")
        neutral = (loop.get("regime", "replace") == "replace" and not loop.get("real_fraction")
                   and loop.get("filter", "none") == "none")
        return self.samples_per_generation if neutral else None


def load_run(root: Path) -> RunRecord:
    """Everything a report shows about ``root``; raises RunFolderError if it is not a run folder."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise RunFolderError(f"{root} does not exist or is not a folder; expected an imagelab run folder")
    if not any((root / marker).exists() for marker in RUN_MARKERS):
        raise RunFolderError(f"{root} is not an imagelab run folder (none of {', '.join(RUN_MARKERS)} found)")
    problems: list[str] = []
    config = _read_mapping(root / "config.yaml", yaml.safe_load, problems)
    manifest = _read_mapping(root / "manifest.json", json.loads, problems)
    judge = _read_mapping(root / "judge" / "judge.json", json.loads, problems) or mapping(manifest.get("judge"))
    rows = _read_rows(root, problems)
    breeds = _breeds(rows, judge, config)
    generations = _generation_records(root, rows, manifest, config)
    return RunRecord(root, config, manifest, judge, rows, breeds, generations, problems)


# --- pieces ------------------------------------------------------------------------------------


def _read_mapping(path: Path, parse, problems: list[str]) -> dict[str, Any]:
    """A YAML/JSON mapping, or {} with a note in ``problems``."""
    name = path.relative_to(path.parent.parent).as_posix() if path.parent.name == "judge" else path.name
    if not path.is_file():
        problems.append(f"{name} is missing")
        return {}
    try:
        value = parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
        problems.append(f"{name} is unreadable ({type(error).__name__})")
        return {}
    if not isinstance(value, dict):
        problems.append(f"{name} is not a mapping")
        return {}
    return value


def _read_rows(root: Path, problems: list[str]) -> list[dict[str, Any]]:
    """metrics.csv rows with numbers parsed; falls back to gen_*/metrics.json if the CSV is unusable."""
    path = root / "metrics.csv"
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [_parse_row(row) for row in csv.DictReader(handle)]
        rows = [row for row in rows if row is not None]
        if rows:
            return sorted(rows, key=lambda row: row["generation"])
    except FileNotFoundError:
        problems.append("metrics.csv is missing")
    except (OSError, UnicodeDecodeError, csv.Error):
        problems.append("metrics.csv is unreadable")
    rows = []
    for folder in sorted(root.glob("gen_[0-9][0-9][0-9]*")):
        try:
            row = _parse_row(json.loads((folder / GENERATION_METRICS_FILE).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, ValueError, AttributeError):
            continue
        if row is not None:
            rows.append(row)
    return sorted(rows, key=lambda row: row["generation"])


def _parse_row(raw: dict[str, Any]) -> dict[str, Any] | None:
    """Numbers as floats (generation as int); blank cells dropped; None without a generation."""
    row: dict[str, Any] = {}
    for key, value in raw.items():
        if key is None or value is None or value == "":
            continue
        try:
            row[key] = float(value)
        except (TypeError, ValueError):
            row[key] = value
    try:
        row["generation"] = int(row["generation"])
    except (KeyError, TypeError, ValueError):
        return None
    return row


def _breeds(rows: list[dict], judge: dict, config: dict) -> tuple[str, ...]:
    """Breed names in the dataset's order: the share_* columns, else judge.json, else the config."""
    if rows:
        return tuple(key[len("share_"):] for key in rows[0]
                     if key.startswith("share_") and key != f"share_{UNRECOGNIZED}")
    for names in (judge.get("breeds"), mapping(config.get("data")).get("breeds")):
        if isinstance(names, list) and names:
            return tuple(str(name) for name in names)
    return ()


def _generation_records(root: Path, rows: list[dict], manifest: dict, config: dict) -> list[GenerationRecord]:
    by_generation = {row["generation"]: row for row in rows}
    recorded = mapping(manifest.get("generations"))
    numbers = set(by_generation) | {int(g) for g in recorded if str(g).isdigit()}
    for folder in root.glob("gen_[0-9][0-9][0-9]*"):
        if folder.name[4:].isdigit():
            numbers.add(int(folder.name[4:]))
    planned = mapping(config.get("loop")).get("generations")
    if isinstance(planned, int):
        numbers |= set(range(planned + 1))
    records = []
    for generation in sorted(numbers):
        folder = root / generation_folder_name(generation)
        files = {name: folder / name for name in GENERATION_FILES if (folder / name).is_file()}
        row = by_generation.get(generation)
        missing = [] if row is not None else ["metrics"]
        missing += [name for name in GENERATION_FILES if name not in files]
        stages = mapping(mapping(recorded.get(str(generation))).get("stages"))
        stages = {name: mapping(info) for name, info in stages.items()}
        records.append(GenerationRecord(generation, folder, row, stages, files, missing))
    return records


def mapping(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping, else {}: a hand-edited or foreign file never breaks a report."""
    return value if isinstance(value, dict) else {}


def number(row: dict[str, Any] | None, column: str) -> float:
    """A numeric cell of a metrics row, NaN when the row or the cell is absent."""
    value = (row or {}).get(column)
    return float(value) if _finite(value) else math.nan


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
