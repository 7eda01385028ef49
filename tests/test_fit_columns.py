"""A generator's own numbers per fit (FitReport.extra) reach metrics.csv as fit_<name> columns.

The names are declared on the class (``fit_columns``), so the run's manifest lists the
columns before the first fit; generation 0 (the real pool, no fit) leaves them empty, and
a fit that reports other names, or a number that is not finite, stops the stage (exit 1).
"""

from __future__ import annotations

import csv
import json

import pytest

from imagelab import lab
from imagelab.cli import main
from imagelab.plugin import FitReport
from tests.broken_plugins.tiny import Tiny
from tests.test_broken_plugins import OVERRIDES

COUNTING = "tests.test_fit_columns:CountingPool"


class CountingPool(Tiny):
    """The tiny generator, reporting how many images it learnt and how many of them carry a label."""

    fit_columns = ("pool_size", "labelled")

    def fit(self, pool, *, seed, warm_start=None):
        super().fit(pool, seed=seed, warm_start=warm_start)
        return FitReport(losses=[0.0], extra={"pool_size": len(pool), "labelled": int((pool.labels >= 0).sum())})


class ReportsUndeclared(Tiny):
    fit_columns = ("pool_size",)

    def fit(self, pool, *, seed, warm_start=None):
        super().fit(pool, seed=seed, warm_start=warm_start)
        return FitReport(losses=[0.0], extra={"pool_size": len(pool), "surprise": 1.0})


class ReportsNaN(Tiny):
    fit_columns = ("pool_size",)

    def fit(self, pool, *, seed, warm_start=None):
        super().fit(pool, seed=seed, warm_start=warm_start)
        return FitReport(losses=[0.0], extra={"pool_size": float("nan")})


@pytest.fixture(autouse=True)
def no_report(monkeypatch):
    monkeypatch.setattr(lab, "build_report", lambda run_dir: 0.0)  # the report is not what these tests are about


def test_fit_numbers_become_columns_declared_before_the_first_fit(tmp_path):
    run = tmp_path / "run"
    assert main(["run", "--out", str(run), *OVERRIDES, "loop.generations=2", f"generator.name={COUNTING}"]) == 0
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert list(rows[0])[-2:] == ["fit_pool_size", "fit_labelled"]
    assert rows[0]["fit_pool_size"] == "" and rows[0]["fit_labelled"] == ""  # generation 0 had no fit
    assert [float(row["fit_pool_size"]) for row in rows[1:]] == [85.0, 85.0]
    assert [float(row["fit_labelled"]) for row in rows[1:]] == [85.0, 85.0]
    declared = {entry["metric"]: entry for entry in json.loads((run / "manifest.json").read_text())["metrics"]}
    assert [column["name"] for column in declared["fit"]["columns"]] == ["fit_pool_size", "fit_labelled"]


def test_a_generator_without_fit_columns_adds_none(tmp_path):
    run = tmp_path / "run"
    assert main(["run", "--out", str(run), *OVERRIDES, "generator.name=tests.broken_plugins.tiny:Tiny"]) == 0
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert not [name for name in header if name.startswith("fit_")]


@pytest.mark.parametrize("generator, detail", [
    ("ReportsUndeclared", "expected FitReport.extra to hold the numbers its class lists in fit_columns "
                          "['pool_size'], got ['pool_size', 'surprise']"),
    ("ReportsNaN", "expected finite numbers in FitReport.extra, got nan for 'pool_size'"),
])
def test_fit_numbers_that_break_the_declaration_stop_the_fit(tmp_path, capsys, generator, detail):
    run = tmp_path / "run"
    name = f"tests.test_fit_columns:{generator}"
    assert main(["run", "--out", str(run), *OVERRIDES, f"generator.name={name}"]) == 1
    err = capsys.readouterr().err
    assert f"generation 1, stage fit: {detail}" in err
    manifest = json.loads((run / "manifest.json").read_text())
    assert "fit" not in manifest["generations"].get("1", {}).get("stages", {})
