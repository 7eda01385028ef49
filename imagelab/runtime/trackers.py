"""Experiment trackers: each generation's metrics row, fit loss and sample grid, also in TensorBoard, W&B or MLflow.

Off by default. ``log_with: [tensorboard]`` (any of ``tensorboard``, ``wandb``, ``mlflow``)
opens accelerate's trackers (``accelerate.tracking``) for the run, in the main process
only, and after each generation's metrics row sends, at step = the generation:

- ``metrics/<column>``: every numeric column of the row (``metrics/fid``, ``metrics/share_<breed>``, ...);
- ``fit/<fact>``: the numeric facts of the generation's fit stage in the manifest
  (``fit/final_loss``, ``fit/pool_size``, ...), and ``seconds/<stage>`` for each stage;
- ``samples/grid``: grid.png, as an image (TensorBoard, W&B) or an artifact (MLflow).

The resolved config goes in once per process as hyperparameters (flattened, dotted keys).

Everything a tracker writes locally lives under ``RUN_DIR/trackers/``: TensorBoard's event
files in ``trackers/tensorboard/``, W&B's files in ``trackers/wandb/``, MLflow's database and
artifacts in ``trackers/mlflow/`` unless ``MLFLOW_TRACKING_URI`` names a server. A resumed run
continues the same tracker run (W&B by a run id derived from the folder, MLflow by the run id
kept in ``trackers/mlflow/run_id``; TensorBoard adds an event file to the same folder) and sends
only the generations measured by this process, so each generation is logged once.

The tracker packages are optional extras (``pip install 'imagelab[tensorboard]'``);
``require_tracker_packages`` refuses a run that names one that is not installed, before
anything is written.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from imagelab.errors import ConfigError

# Tracker name (accelerate's) -> the module it needs; the pip extra of imagelab has the tracker's name.
TRACKER_MODULES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}
TRACKER_NAMES = tuple(TRACKER_MODULES)
PROJECT = "imagelab"  # the W&B project and MLflow experiment, unless WANDB_PROJECT / MLFLOW_EXPERIMENT_NAME say
MLFLOW_RUN_ID_FILE = "run_id"


def require_tracker_packages(names: Iterable[str]) -> None:
    """Refuse (ConfigError on ``log_with``) a tracker whose package is not installed, naming the pip extra."""
    for name in names:
        module = TRACKER_MODULES[name]
        if find_spec(module) is None:
            raise ConfigError("log_with", f"{name} needs the {module} package, which is not installed; "
                                          f"pip install 'imagelab[{name}]' (or remove {name} from log_with)")


class RunTrackers:
    """The trackers of one process of a run (none: every call does nothing)."""

    def __init__(self, trackers: list[Any] | None = None, already_logged: Iterable[int] = ()) -> None:
        self.trackers = trackers or []
        self.logged = set(already_logged)  # generations an earlier process of this run has sent

    def log_generation(self, row: dict[str, Any], stages: dict[str, dict[str, Any]], grid: Path | None) -> None:
        """Send generation ``row["generation"]``'s metrics ``row``, its manifest ``stages`` and its ``grid`` image."""
        generation = int(row["generation"])
        if not self.trackers or generation in self.logged:
            return
        values = {f"metrics/{column}": value for column, value in row.items()
                  if column != "generation" and _is_number(value)}
        values |= {f"fit/{fact}": value for fact, value in stages.get("fit", {}).items()
                   if fact != "seconds" and _is_number(value)}
        values |= {f"seconds/{stage}": info["seconds"] for stage, info in stages.items() if "seconds" in info}
        for tracker in self.trackers:
            tracker.log(values, step=generation)
            if grid is not None and grid.is_file():
                _log_image(tracker, "samples/grid", grid, generation)
        self.logged.add(generation)

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.finish()
        self.trackers = []


@contextmanager
def open_trackers(names: Iterable[str], directory: Path, config: dict[str, Any],
                  manifest: dict[str, Any]) -> Iterator[RunTrackers]:
    """The trackers ``names`` of the run whose tracker folder is ``directory`` (RUN_DIR/trackers), closed after.

    ``config`` (the resolved config) is stored as hyperparameters; ``manifest`` says which
    generations an earlier process already measured (and so sent).
    """
    names = list(dict.fromkeys(names))
    if not names:
        yield RunTrackers()
        return
    require_tracker_packages(names)
    from accelerate import PartialState  # accelerate's tracker logging needs its state; importing it takes a while
    from accelerate.tracking import filter_trackers

    PartialState(cpu=True)  # one process: nothing to join (a launched run has joined already, this is a no-op)
    directory.mkdir(parents=True, exist_ok=True)
    run_identity = f"{directory.parent}|{manifest.get('created', '')}"
    kinds = [str(kind) for kind in filter_trackers(names, directory)]  # accelerate's own check of each name
    if sorted(kinds) != sorted(names):  # accelerate found a package missing that find_spec saw: never drop one
        missing = ", ".join(name for name in names if name not in kinds)
        raise ConfigError("log_with", f"accelerate finds no usable package for {missing}; "
                                      f"pip install 'imagelab[{missing.split(', ')[0]}]'")
    opened = RunTrackers(already_logged=measured_generations(manifest))
    try:
        hyperparameters = _flatten(config)
        for kind in kinds:
            opened.trackers.append(_start(kind, directory, run_identity))
            opened.trackers[-1].store_init_configuration(hyperparameters)
        yield opened
    finally:
        opened.close()


def measured_generations(manifest: dict[str, Any]) -> set[int]:
    """Generations whose metrics stage the manifest marks complete."""
    return {int(generation) for generation, record in manifest.get("generations", {}).items()
            if "metrics" in record.get("stages", {})}


def _start(kind: str, directory: Path, run_identity: str) -> Any:
    """A started accelerate tracker of ``kind`` that writes under ``directory``."""
    from accelerate.tracking import MLflowTracker, TensorBoardTracker, WandBTracker

    run_name = directory.parent.name
    if kind == "tensorboard":
        tracker = TensorBoardTracker("tensorboard", directory)  # event files in directory/tensorboard
    elif kind == "wandb":
        # wandb writes into a "wandb" folder inside ``dir``: directory/wandb. The id is the same on every
        # resume of this run folder, so W&B continues one run.
        run_id = "imagelab-" + hashlib.sha256(run_identity.encode()).hexdigest()[:16]
        tracker = WandBTracker(os.environ.get("WANDB_PROJECT", PROJECT), dir=str(directory), name=run_name,
                               id=run_id, resume="allow")
    else:
        tracker = _mlflow_tracker(MLflowTracker, directory / "mlflow", run_name)
    tracker.start()
    if kind == "mlflow":
        (directory / "mlflow" / MLFLOW_RUN_ID_FILE).write_text(tracker.active_run.info.run_id)
    return tracker


def _mlflow_tracker(tracker_class: type, folder: Path, run_name: str) -> Any:
    """An MLflow tracker whose database and artifacts are in ``folder``, continuing the run recorded there."""
    import mlflow

    folder.mkdir(exist_ok=True)
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    run_id_file = folder / MLFLOW_RUN_ID_FILE
    run_id = run_id_file.read_text().strip() if run_id_file.is_file() else None
    return tracker_class(experiment_name=PROJECT, logging_dir=(folder / "artifacts").as_uri(), run_id=run_id,
                         run_name=run_name)


def _log_image(tracker: Any, tag: str, path: Path, step: int) -> None:
    """``path`` (a PNG) as an image where the tracker takes images, else as a file (MLflow's artifacts)."""
    if tracker.name == "tensorboard":
        image = np.asarray(Image.open(path).convert("RGB"))[None]  # (1, H, W, 3) uint8
        tracker.log_images({tag: image}, step=step, dataformats="NHWC")
    elif tracker.name == "wandb":
        tracker.log_images({tag: [Image.open(path).convert("RGB")]}, step=step)
    elif hasattr(tracker, "log_artifact"):
        tracker.log_artifact(str(path), artifact_path=path.parent.name)  # gen_003/grid.png


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config sections as dotted keys; values a tracker cannot store (lists, None) as text."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return flat
