"""The metrics registry: built-in columns in their fixed order, and plugin metrics (by module:Class path and
by entry point) configured, run, and their columns in metrics.csv, the report and a seeds aggregate."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass

import pytest
import torch

from imagelab.cli import main
from imagelab.config import load_config
from imagelab.data.imageset import ImageSet
from imagelab.errors import ConfigError
from imagelab.judge.judgement import Judgement
from imagelab.metrics.metric import (
    METRICS,
    Column,
    Metric,
    MetricConfig,
    MetricError,
    per_breed,
)
from imagelab.metrics.suite import ChosenMetric, chosen_metrics, declare
from imagelab.registry import DISABLE_AUTOLOAD_ENV

BREEDS = ("golden_retriever", "dachshund", "petit_basset_griffon_vendeen")
PATH_METRIC = "tests.test_metric_plugins:MeanBrightness"
ENTRY_POINT_METRIC = "real-images-in-pool"


@dataclass
class BrightnessConfig(MetricConfig):
    scale: float = 1.0  # the column is the mean pixel value times this


class MeanBrightness(Metric):
    """Mean pixel value (0-255) of the samples, overall and per judged breed, times a scale."""

    Config = BrightnessConfig

    @classmethod
    def columns(cls, config, breeds):
        return [Column("mean_brightness", "brightness", headline=True), *per_breed("brightness", breeds)]

    def measure(self, inputs):
        pixels = inputs.images.images.double().mean(dim=(1, 2, 3))  # (N,) each image's mean
        labels = inputs.judgement.labels
        row = {"mean_brightness": self.config.scale * float(pixels.mean())}
        for index, breed in enumerate(self.context.breeds):
            mine = pixels[labels == index]
            row[f"brightness_{breed}"] = self.config.scale * float(mine.mean()) if len(mine) else math.nan
        return row


@dataclass
class RealCountConfig(MetricConfig):
    offset: int = 0


class RealImagesInPool(Metric):
    """Real images in the pool the generation learnt from, plus an offset."""

    Config = RealCountConfig

    @classmethod
    def columns(cls, config, breeds):
        return [Column("real_images_in_pool", style="count")]

    def measure(self, inputs):
        return {"real_images_in_pool": int((inputs.pool.provenance == 0).sum()) + self.config.offset}


class Undeclared(Metric):
    """Returns a column it never declared."""

    @classmethod
    def columns(cls, config, breeds):
        return [Column("declared")]

    def measure(self, inputs):
        return {"something_else": 1.0}


class FakeEntryPoint:
    def __init__(self, name: str, value: str) -> None:
        self.name, self.value, self.dist = name, value, None

    def load(self):
        module, _, attribute = self.value.partition(":")
        return getattr(__import__(module, fromlist=[attribute]), attribute)


@pytest.fixture
def entry_point_metric(monkeypatch):
    """RealImagesInPool installed as the ``imagelab.metrics`` entry point ``real-images-in-pool``."""
    point = FakeEntryPoint(ENTRY_POINT_METRIC, "tests.test_metric_plugins:RealImagesInPool")
    points = {"imagelab.metrics": [point]}
    monkeypatch.setattr("imagelab.registry.entry_points", lambda group: points.get(group, []))
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    # The shared registry, with its plugin lookup undone (and restored after the test).
    monkeypatch.setattr(METRICS, "_entries", dict(METRICS._entries))
    monkeypatch.setattr(METRICS, "_plugins_loaded", False)
    monkeypatch.setattr(METRICS, "broken", {})


# --- the built-in columns ------------------------------------------------------------------------

# metrics.csv's header for two breeds a and b: as the loop wrote it before the columns came from metrics,
# then the columns added since (at the end, so earlier columns keep their places).
EXPECTED_HEADER = [
    "generation", "fid", "breeds_alive", "share_unrecognized", "share_a", "share_b", "entropy",
    "corrected_share_a", "corrected_share_b", "tv_to_real", "mean_confidence", "samples",
    "precision", "recall", "density", "coverage", "coverage_a", "coverage_b", "recall_a", "recall_b",
    "hill_richness", "hill_shannon", "hill_simpson", "kl_to_real", "tail_mass", "within_breed_variance",
    "kid_a", "frechet_a", "kid_b", "frechet_b", "extinct_since_a", "extinct_since_b",
    "pool_size", "pool_real_share", "judged_as_asked",
    # added since: the detectability test's verdict and limit, and the distinct images
    "detectable_a", "detectable_b", "error_limit_a", "error_limit_b", "distinct", "distinct_a", "distinct_b"]


def test_built_in_metrics_declare_todays_columns_in_order():
    declared = declare(chosen_metrics(), ("a", "b"))
    assert ["generation"] + [column.name for d in declared for column in d.columns] == EXPECTED_HEADER
    per_breed_columns = [column for d in declared for column in d.columns if column.breed is not None]
    assert {column.family for column in per_breed_columns} == {
        "share", "corrected_share", "coverage", "recall", "kid", "frechet", "extinct_since", "detectable",
        "error_limit", "distinct"}
    assert all(column.name == f"{column.family}_{column.breed}" for column in per_breed_columns)


def test_columns_are_checked_and_two_metrics_may_not_claim_one():
    class Shadow(MeanBrightness):
        """Claims the FID column."""

        @classmethod
        def columns(cls, config, breeds):
            return [Column("fid")]

    with pytest.raises(ValueError, match="style must be one of number, count, percent"):
        Column("mean_brightness", style="pct")
    with pytest.raises(ValueError, match="must end in '_dachshund'"):
        Column("brightness", breed="dachshund")
    chosen = chosen_metrics() + [ChosenMetric("shadow", Shadow, BrightnessConfig())]
    with pytest.raises(MetricError, match="'shadow' declares the column 'fid', which metric 'fid' already"):
        declare(chosen, BREEDS)


def test_eval_metrics_are_checked_while_the_config_is_read():
    config = load_config(None, [f"eval.metrics=[{{name: '{PATH_METRIC}', scale: 2}}]"])
    (chosen,) = config.eval.extra_metrics()
    assert chosen.metric is MeanBrightness and chosen.config == BrightnessConfig(scale=2.0)
    for entry, message in [
            ("[fid]", "eval.metrics[0]: 'fid' is built in and always runs"),
            ("[no_such_metric]", "eval.metrics[0]: unknown metric 'no_such_metric'; available: "),
            (f"[{{name: '{PATH_METRIC}', scale: bright}}]", "eval.metrics[0].scale: must be a number"),
            (f"[{{name: '{PATH_METRIC}', colour: 1}}]", "eval.metrics[0].colour: unknown key"),
            ("[{scale: 2}]", "eval.metrics[0]: must be a metric's name or a mapping with 'name'"),
            (f"['{PATH_METRIC}', '{PATH_METRIC}']", "eval.metrics[1]: .* is listed twice"),
            ("['collections:OrderedDict']", "is not a Metric class")]:
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
            load_config(None, [f"eval.metrics={entry}"])


def test_judgement_maps_saves_and_loads(tmp_path):
    judgement = Judgement(torch.tensor([0, -1, 2]), torch.tensor([0, 1, 2]), torch.tensor([0.9, 0.2, 0.8]),
                          torch.arange(6.0).reshape(3, 2))
    first_two = judgement.map(lambda tensor: tensor[:2])
    assert len(first_two) == 2 and first_two.features.tolist() == [[0.0, 1.0], [2.0, 3.0]]
    judgement.save(tmp_path / "judgement.safetensors")
    loaded = Judgement.load(tmp_path / "judgement.safetensors")
    assert all(torch.equal(loaded.tensors()[name], tensor) for name, tensor in judgement.tensors().items())


# --- plugins in a run --------------------------------------------------------------------------------


def test_list_metrics_shows_built_ins_and_entry_point_plugins(entry_point_metric, capsys):
    assert main(["list", "metrics"]) == 0
    names = capsys.readouterr().out.splitlines()
    assert {"fid", "census", "prdc", ENTRY_POINT_METRIC} <= set(names) and names == sorted(names)
    assert main(["list", "metrics", "--verbose"]) == 0
    rows = {line.split("\t")[0]: line.split("\t") for line in capsys.readouterr().out.splitlines()}
    where = "tests.test_metric_plugins:RealImagesInPool"
    assert rows[ENTRY_POINT_METRIC][1:] == [f"entry point {where}", where, RealImagesInPool.__doc__]
    assert rows["fid"][1] == "built-in"


@pytest.fixture(scope="module")
def resample_overrides():
    from tests.conftest import TINY_OVERRIDES

    return [o for o in TINY_OVERRIDES if not o.startswith("generator.")] + ["generator.name=resample"]


def test_plugin_metrics_reach_metrics_csv_the_report_and_the_seeds_aggregate(
        entry_point_metric, resample_overrides, tmp_path, capsys):
    out = tmp_path / "seeds"
    extra = (f"eval.metrics=[{{name: '{PATH_METRIC}', scale: 2}}, "
             f"{{name: {ENTRY_POINT_METRIC}, offset: 1000}}]")
    # A confidence threshold of 0: the 1-epoch judge names every image, so per-breed values exist.
    assert main(["run", "--seeds", "0,1", "--out", str(out), *resample_overrides, extra,
                 "judge.confidence_threshold=0"]) == 0
    first_rows = {}
    plugin_columns = ["mean_brightness", *[f"brightness_{b}" for b in BREEDS], "real_images_in_pool"]
    for seed in (0, 1):
        run = out / f"seed_{seed}"
        with open(run / "metrics.csv") as handle:
            rows = list(csv.DictReader(handle))
        header = list(rows[0])
        assert header[-len(plugin_columns):] == plugin_columns  # after the built-in columns, as listed
        assert header[-len(plugin_columns) - 1] == f"distinct_{BREEDS[-1]}"  # the last built-in column
        first_rows[seed] = rows[0]
        # Scale 2: twice the mean pixel value of each generation's samples (generation 0: the real pool).
        for row in rows:
            samples = ImageSet.load(run / f"gen_{int(row['generation']):03d}" / "samples.safetensors")
            assert float(row["mean_brightness"]) == pytest.approx(2 * float(samples.images.double().mean()))
        # Generation 0 (the real pool itself) and 1 have the real pool as pool; 2 learnt samples only.
        real = int(rows[0]["pool_size"])
        assert [int(row["real_images_in_pool"]) for row in rows] == [1000 + real, 1000 + real, 1000]
        manifest = json.loads((run / "manifest.json").read_text())
        assert [entry["metric"] for entry in manifest["metrics"]][-2:] == [PATH_METRIC, ENTRY_POINT_METRIC]
        html = (run / "report" / "index.html").read_text()
        assert PATH_METRIC in html and ENTRY_POINT_METRIC in html  # in "Every column, metric by metric"
        assert "<th class=\"num\">brightness</th>" in html  # a headline column: in the per-generation table
        assert "brightness_&lt;breed&gt;" in html and "real_images_in_pool" in html
    with open(out / "aggregate.csv") as handle:
        aggregate = list(csv.DictReader(handle))
    for column in ("mean_brightness", "real_images_in_pool"):
        assert {f"{column}_mean", f"{column}_ci95_low", f"{column}_ci95_high"} <= set(aggregate[0])
    # A per-breed column is aggregated where every seed measured it (NaN: no sample judged as the breed).
    per_breed_columns = plugin_columns[1:-1]
    measured = [c for c in per_breed_columns if not any(math.isnan(float(r[c])) for r in first_rows.values())]
    assert measured and all(f"{c}_mean" in aggregate[0] for c in measured)
    assert float(aggregate[-1]["real_images_in_pool_mean"]) == 1000  # generation 2: no real image in its pool
    printed = capsys.readouterr().out
    assert "Mean over 2 seeds at generation 2" in printed and "pool_real_share" in printed  # a headline


def test_a_metric_that_breaks_its_declaration_stops_the_run_with_exit_2(resample_overrides, tmp_path, capsys):
    code = main(["run", "--out", str(tmp_path / "run"), *resample_overrides,
                 "eval.metrics=[tests.test_metric_plugins:Undeclared]"])
    assert code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "metric 'tests.test_metric_plugins:Undeclared' returned the columns ['something_else']" in message
    assert "declares ['declared']" in message and "Traceback" not in message


def test_a_report_builds_where_a_plugin_is_not_installed(resample_overrides, tmp_path):
    """The report takes a run's columns from its manifest, so the plugin's module is not needed."""
    from imagelab.report.html import build_report

    run = tmp_path / "run"
    extra = f"eval.metrics=[{PATH_METRIC}]"
    assert main(["run", "--out", str(run), *resample_overrides, "loop.generations=1", extra]) == 0
    manifest = json.loads((run / "manifest.json").read_text())
    for entry in manifest["metrics"]:
        entry["metric"] = entry["metric"].replace(PATH_METRIC, "gone_plugin_xyz:Metric")
    (run / "manifest.json").write_text(json.dumps(manifest))
    html = build_report(run).read_text()
    assert "gone_plugin_xyz:Metric" in html and "<th class=\"num\">brightness</th>" in html

