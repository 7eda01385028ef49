"""A run folder read back: ``imagelab.load_run(path)`` and the ``Run`` it returns.

Finished, running or killed, a folder reads through runs/record.py, the reader the
report uses, so the API and the report never disagree about what a folder holds;
what it lacks raises RunFolderError naming the file. See docs/python-api.md.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from imagelab.config import RunConfig, config_from_dict
from imagelab.data.imageset import ImageSet
from imagelab.errors import ConfigError, RunFolderError
from imagelab.generators import Generator, load_generator
from imagelab.generators.diffusers_export import export_diffusers_pipeline
from imagelab.judge.judgement import Judgement
from imagelab.registry import RegistryError
from imagelab.report import html
from imagelab.runs.layout import (
    CONFIG_FILE,
    GENERATOR_DIR,
    JUDGEMENT_FILE,
    LOG_FILE,
    MANIFEST_FILE,
    METRICS_FILE,
    SAMPLES_FILE,
    generation_folder_name,
)
from imagelab.runs.record import RunRecord
from imagelab.runs.record import load_run as load_record


def load_run(path: str | os.PathLike) -> Run:
    """Read the run folder ``path`` back (finished, running or killed); RunFolderError if it is none."""
    return Run(load_record(Path(path)))


class Run:
    """A run folder as read from disk: config, manifest, metrics rows and each generation's files.

    Generation 0 is the real pool (its samples are the real images, it has no generator);
    generation g >= 1 is what the generator fitted on the g-th pool sampled. What a run
    folder lacks (a killed run's last stage) raises RunFolderError naming the file.
    """

    def __init__(self, record: RunRecord) -> None:
        self.record = record  # the reader the report uses: tolerant of missing files, see runs/record.py

    def __repr__(self) -> str:
        return f"Run({str(self.root)!r}, status={self.status!r}, generations={self.generations})"

    @property
    def root(self) -> Path:
        return self.record.root

    @property
    def status(self) -> str:
        """``complete``, ``running``, ``interrupted`` or ``failed: <why>`` (from the manifest)."""
        return self.record.status

    @property
    def manifest(self) -> dict[str, Any]:
        return self.record.manifest

    @property
    def rows(self) -> list[dict[str, Any]]:
        """metrics.csv: one dict per measured generation, numbers as floats (``generation`` an int)."""
        return self.record.rows

    @property
    def breeds(self) -> tuple[str, ...]:
        return self.record.breeds

    @property
    def generations(self) -> list[int]:
        """The generations with a metrics row, in order."""
        return [row["generation"] for row in self.rows]

    @property
    def config_dict(self) -> dict[str, Any]:
        """config.yaml as written: the resolved config as plain data ({} if unreadable)."""
        return self.record.config

    @functools.cached_property
    def config(self) -> RunConfig:
        """The resolved config as a RunConfig; its generator must be registered in this process."""
        if not self.record.config:
            raise RunFolderError(f"{self.config_file} is missing or unreadable; `config_dict` is empty")
        return config_from_dict(self.record.config)

    # Paths, named in runs/layout.py.

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def manifest_file(self) -> Path:
        return self.root / MANIFEST_FILE

    @property
    def metrics_file(self) -> Path:
        return self.root / METRICS_FILE

    @property
    def log_file(self) -> Path:
        return self.root / LOG_FILE

    @property
    def report_file(self) -> Path:
        return self.root / html.REPORT_DIR / "index.html"

    def generation_dir(self, generation: int) -> Path:
        return self.root / generation_folder_name(generation)

    # Each generation's artifacts.

    def samples(self, generation: int) -> ImageSet:
        """The images generation ``generation`` sampled (generation 0: the real pool), in stored order."""
        return ImageSet.load(self._generation_file(generation, SAMPLES_FILE))

    def judgement(self, generation: int) -> Judgement:
        """The judge's verdict on each of those samples: labels (-1 = unrecognized), confidence, features."""
        return Judgement(**load_file(str(self._generation_file(generation, JUDGEMENT_FILE))))

    def generator(self, generation: int, device: str | torch.device = "cpu") -> Generator:
        """The generator of generation ``generation`` >= 1, loaded from its config.json + weights."""
        if generation == 0:
            raise RunFolderError("generation 0 is the real pool; no generator made it "
                                 "(generators start at generation 1)")
        directory = self._generation_folder(generation) / GENERATOR_DIR
        if not directory.is_dir():
            raise RunFolderError(f"{directory} is missing: generation {generation} has not been fitted yet; "
                                 "resume the run (the same config, the same folder) to make it")
        try:
            return load_generator(directory, torch.device(device))
        except RegistryError as error:
            raise ConfigError("generator.name", f"{error} (register it in this process to load it)") from None

    def export(self, generation: int, out: str | os.PathLike) -> Path:
        """Write generation ``generation``'s diffusion model to ``out`` as a diffusers ``DDPMPipeline`` folder.

        ``DDPMPipeline.from_pretrained(out)`` then samples it without imagelab (a ddpm-cond
        export: its UNet with ``class_labels``; see docs/generators.md). ``out`` must be new
        or empty; generators other than the diffusion ones are refused (UserError).
        """
        about = {"run": str(self.root), "generation": generation, "breeds": list(self.breeds)}
        return export_diffusers_pipeline(self.generator(generation), Path(out), about)

    def _generation_folder(self, generation: int) -> Path:
        known = {record.generation: record for record in self.record.generations}
        if generation not in known:
            raise RunFolderError(f"{self.root} has no generation {generation}; "
                                 f"it has generations {min(known, default=0)}..{max(known, default=0)}")
        return known[generation].folder

    def _generation_file(self, generation: int, name: str) -> Path:
        path = self._generation_folder(generation) / name
        if not path.is_file():
            raise RunFolderError(f"{path} is missing: generation {generation} has not got that far; "
                                 "resume the run (the same config, the same folder) to make it")
        return path
