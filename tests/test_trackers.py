"""Experiment trackers (log_with): checked before a run starts; a tiny run's metrics in TensorBoard's event files."""

import csv

import pytest

import imagelab.runtime.trackers as trackers
from imagelab.cli import main
from imagelab.config import load_config
from imagelab.errors import ConfigError
from imagelab.loop.collapse import CollapseLoop
from tests.conftest import TINY_OVERRIDES


def test_trackers_are_off_by_default_and_unknown_names_are_refused():
    assert load_config(None, TINY_OVERRIDES).log_with == []
    assert load_config(None, ["log_with=[tensorboard]"]).log_with == ["tensorboard"]
    refusal = r"log_with\[0\]: must be one of tensorboard, wandb, mlflow; got 'tensorbord'"
    with pytest.raises(ConfigError, match=refusal):
        load_config(None, ["log_with=[tensorbord]"])


def test_a_tracker_whose_package_is_missing_stops_the_run_before_any_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(trackers, "find_spec", lambda module: None)  # as if tensorboard were not installed
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), *TINY_OVERRIDES, "log_with=[tensorboard]"]) == 2
    message = capsys.readouterr().err
    assert "log_with: tensorboard needs the tensorboard package" in message
    assert "pip install 'imagelab[tensorboard]'" in message and "Traceback" not in message
    assert not out.exists()


def scalars(folder, tag):
    """(step, value) of every event of ``tag`` in the TensorBoard folder ``folder``, in order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


def test_a_tiny_run_sends_each_generations_metrics_to_tensorboard_once(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # The first attempt is interrupted (Ctrl-C) while it measures generation 2.
    draw_grids = CollapseLoop._draw_grids

    def interrupted_at_generation_2(loop, generation, *args):
        if generation == 2:
            raise KeyboardInterrupt
        draw_grids(loop, generation, *args)

    monkeypatch.setattr(CollapseLoop, "_draw_grids", interrupted_at_generation_2)
    out = tmp_path / "run"
    command = ["run", "--out", str(out), *TINY_OVERRIDES, "log_with=[tensorboard]"]
    assert main(command) != 0
    events = out / "trackers" / "tensorboard"
    assert [step for step, _ in scalars(events, "metrics/fid")] == [0, 1]

    # The resumed run sends generation 2, and nothing a second time.
    monkeypatch.setattr(CollapseLoop, "_draw_grids", draw_grids)
    assert main(command) == 0
    assert len(list(events.glob("events.out.tfevents.*"))) == 2  # one file per process
    with open(out / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    fid = scalars(events, "metrics/fid")
    assert [step for step, _ in fid] == [0, 1, 2]  # one value per generation, the real pool's included
    assert [value for _, value in fid] == pytest.approx([float(row["fid"]) for row in rows], rel=1e-6)
    assert [step for step, _ in scalars(events, "metrics/share_dachshund")] == [0, 1, 2]
    assert [step for step, _ in scalars(events, "fit/final_loss")] == [1, 2]  # the generations with a fit
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    assert [image.step for image in accumulator.Images("samples/grid")] == [0, 1, 2]
