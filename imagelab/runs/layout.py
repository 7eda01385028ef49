"""The run folder's layout: every file and folder name a run writes, in one place.

    RUN_DIR/
      config.yaml        the resolved config
      manifest.json      versions, seeds, timings and status per stage
      metrics.csv        one row per generation (generation 0: the real pool)
      log.txt
      judge/             the judge's weights and its held-out accuracy
      gen_000/ ...       per generation: grid.png, breeds.png, samples, judgement, metrics.json, generator/
      trackers/          with log_with: the experiment trackers' local files (tensorboard/, wandb/, mlflow/)
      report/index.html

Code that reads or writes a run folder takes its names from here.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "config.yaml"
MANIFEST_FILE = "manifest.json"
METRICS_FILE = "metrics.csv"
LOG_FILE = "log.txt"
TRACKERS_DIR = "trackers"  # experiment trackers' files (log_with)
# Inside each generation's folder (see generation_folder_name):
GRID_FILE = "grid.png"
BREEDS_FILE = "breeds.png"
SAMPLES_FILE = "samples.safetensors"
JUDGEMENT_FILE = "judgement.safetensors"
GENERATION_METRICS_FILE = "metrics.json"
GENERATOR_DIR = "generator"


def generation_folder_name(generation: int) -> str:
    return f"gen_{generation:03d}"


# A folder of runs of one config with several seeds (``imagelab run --seeds``):
SEEDS_MARKER = ".imagelab-seeds"
AGGREGATE_FILE = "aggregate.csv"  # per generation, each column's mean and interval over seeds
AGGREGATE_INFO_FILE = "aggregate.json"  # what the seeds varied, the seeds, how the intervals are made
SURVIVAL_FILE = "survival.csv"  # per generation, the share of seeds in which each breed is still detectable


def seed_folder(out: Path, seed: int) -> Path:
    return out / f"seed_{seed}"


# In a folder of runs made with --jobs N: each run's output and resolved config (<run>.log, <run>.config.yaml).
JOB_LOGS_DIR = "logs"
