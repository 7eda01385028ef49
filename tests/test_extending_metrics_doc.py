"""docs/extending-metrics.md's example metric runs as written: registered, configured, in metrics.csv."""

import csv
import math
import re
from pathlib import Path

import imagelab
from imagelab.metrics.metric import METRICS

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "extending-metrics.md"


def test_the_guides_metric_adds_its_columns_to_a_tiny_lab(tiny_overrides, tmp_path, monkeypatch):
    monkeypatch.setattr(METRICS, "_entries", dict(METRICS._entries))  # the example registers into a copy
    example = re.findall(r"^```python\n(.*?)^```", GUIDE.read_text(), re.DOTALL | re.MULTILINE)[0]
    exec(compile(example, str(GUIDE), "exec"), {"__name__": "extending_metrics_guide"})  # noqa: S102
    assert "mean_brightness" in METRICS.names()

    run = imagelab.run(out=tmp_path / "run", overrides=[*tiny_overrides, "loop.generations=1",
                                                        "eval.metrics=[{name: mean_brightness, scale: 2}]"])
    with open(run.root / "metrics.csv", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    breeds = run.breeds
    assert header[-1 - len(breeds):] == ["mean_brightness", *[f"brightness_{b}" for b in breeds]]
    pool = run.samples(0).images.double().mean()
    assert math.isclose(float(rows[0][header.index("mean_brightness")]), 2 * float(pool), rel_tol=1e-9)
