"""docs/plugins.md's complete plugin runs as written: it is executed, checked against the protocol's
promises the loop cannot check itself (image i from seed and i alone, save/load), and run in a tiny lab,
where its fit_<name> column reaches metrics.csv. The guide's table of mistakes names the loop's messages."""

import csv
import re
import sys
import types
from pathlib import Path

import pytest
import torch

from imagelab import lab
from imagelab.cli import main
from imagelab.generators import GENERATORS, DataSpec, load_generator
from imagelab.plugin import ImageSet
from tests.test_broken_plugins import FAULTS, OVERRIDES

GUIDE = Path(__file__).parent.parent / "docs" / "plugins.md"


@pytest.fixture
def guide(monkeypatch) -> types.ModuleType:
    """The guide's Python blocks executed in one module; its generator registered for this test only."""
    monkeypatch.setattr(GENERATORS, "_entries", dict(GENERATORS._entries))
    module = types.ModuleType("plugins_guide")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    exec(compile(blocks[-1], str(GUIDE), "exec"), module.__dict__)  # noqa: S102 (the guide is ours)
    lab.register_generator("breed-gaussian", module.BreedGaussian)
    return module


def test_the_plugin_samples_each_image_from_its_seed_and_reloads(guide, tmp_path):
    generator = guide.BreedGaussian(guide.BreedGaussianConfig(), DataSpec(8, 3), torch.device("cpu"))
    pool = ImageSet.create(torch.randint(0, 256, (30, 3, 8, 8), dtype=torch.uint8), torch.arange(30) % 3)
    report = generator.fit(pool, seed=0)
    assert report.extra == {"breeds_seen": 3}
    whole = generator.sample(300, seed=4)  # more than one chunk of 256
    assert whole.images.dtype == torch.uint8 and whole.images.shape == (300, 3, 8, 8)
    assert set(whole.labels.tolist()) <= {0, 1, 2}
    assert torch.equal(generator.sample_range(300, seed=4, start=250, stop=300).images, whole.images[250:])
    assert torch.equal(generator.sample(10, seed=4).images, whole.images[:10])  # not on n
    generator.save(tmp_path / "saved")
    assert torch.equal(load_generator(tmp_path / "saved", torch.device("cpu")).sample(300, seed=4).images,
                       whole.images)


def test_the_plugin_runs_in_a_lab_with_its_fit_column(guide, tmp_path, monkeypatch):
    monkeypatch.setattr(lab, "build_report", lambda run_dir: 0.0)
    run = tmp_path / "run"
    assert main(["run", "--out", str(run), *OVERRIDES, "generator.name=breed-gaussian",
                 "generator.spread=0.5"]) == 0
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [row["fit_breeds_seen"] for row in rows] == ["", "3.0"]


def test_the_table_of_mistakes_quotes_the_loops_messages():
    text = GUIDE.read_text()
    for _name, stage, detail in FAULTS:
        quoted = re.sub(r" \(at \{faults\}\)$", "", detail)  # the guide writes FILE:LINE for the path
        assert f"stage {stage}: {quoted}" in text, quoted
