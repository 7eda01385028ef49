"""The metric suite inside a real run: columns, extinctions in the manifest, documentation, Inception FID's refusal."""

import csv
import json
import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from imagelab.cli import main
from imagelab.metrics.fid import INCEPTION_WEIGHTS_FILE, ImageFID

BREEDS = ("golden_retriever", "dachshund", "petit_basset_griffon_vendeen")
RUN_FOLDER_PAGE = Path(__file__).parent.parent / "docs" / "run-folder.md"  # the metrics.csv columns table


@pytest.fixture(scope="module")
def resample_run(tmp_path_factory):
    """A tiny run of the resampler (no training): every metric column, cheaply."""
    from tests.conftest import TINY_OVERRIDES

    out = tmp_path_factory.mktemp("runs") / "resample"
    overrides = [o for o in TINY_OVERRIDES if not o.startswith("generator.")]  # the resampler has no settings
    # the 1-epoch judge names every image
    assert main(["run", "--out", str(out), *overrides, "generator.name=resample", "loop.generations=3",
                 "eval.detection_floor=0.5", "judge.confidence_threshold=0"]) == 0
    return out


def test_rows_carry_every_metric_and_the_manifest_the_extinctions(resample_run):
    with open(resample_run / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    per_breed = ("coverage", "recall", "kid", "frechet", "extinct_since", "corrected_share")
    expected = {"precision", "recall", "density", "coverage", "hill_richness", "hill_shannon", "hill_simpson",
                "kl_to_real", "tail_mass", "within_breed_variance"}
    expected |= {f"{metric}_{breed}" for metric in per_breed for breed in BREEDS}
    assert expected <= set(rows[0])
    last = json.loads((resample_run / "gen_003" / "metrics.json").read_text())
    assert expected <= set(last)
    # Generation 0 is the real pool against the reference: a real-vs-real set, so the pool covers most of it.
    assert float(rows[0]["coverage"]) > 0.5 and float(rows[0]["within_breed_variance"]) == 1.0
    # With a floor of 50%, the two rarer breeds (22% and 7% of the pool) are "extinct" from generation 0 on.
    manifest = json.loads((resample_run / "manifest.json").read_text())
    extinctions = manifest["extinctions"]
    assert set(extinctions) == set(BREEDS)
    assert extinctions["petit_basset_griffon_vendeen"] == 0
    for breed in BREEDS:
        final = float(rows[-1][f"extinct_since_{breed}"])
        assert (math.isnan(final) and extinctions[breed] is None) or final == extinctions[breed]


def test_every_metrics_column_is_documented_in_the_run_folder_page(resample_run):
    with open(resample_run / "metrics.csv") as handle:
        columns = next(csv.reader(handle))
    documented = set(re.findall(r"^\| `([^`]+)`", RUN_FOLDER_PAGE.read_text(), flags=re.MULTILINE))
    pattern = re.compile("|".join(re.escape(b) for b in BREEDS))
    missing = [c for c in columns if pattern.sub("<breed>", c) not in documented]
    assert not missing


def test_inception_fid_without_its_weights_file_stops_with_exit_2(tmp_path, capsys):
    missing = tmp_path / "nowhere" / INCEPTION_WEIGHTS_FILE
    code = main(["run", "--out", str(tmp_path / "run"), "eval.fid_features=inception",
                 f"eval.inception_weights={missing}"])
    assert code == 2
    message = capsys.readouterr().err.strip()
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("imagelab: error: eval.inception_weights:") and str(missing) in message
    assert "never downloads" in message and "eval.fid_features=judge" in message
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_the_default_inception_path_is_in_the_cache(tmp_path, monkeypatch):
    from imagelab.config import EvalConfig
    from imagelab.errors import ConfigError
    from imagelab.metrics.fid import inception_weights_path

    monkeypatch.setenv("IMAGELAB_CACHE", str(tmp_path))
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path / INCEPTION_WEIGHTS_FILE))):
        inception_weights_path(EvalConfig(fid_features="inception"))


class MeanColour(nn.Module):
    """A stand-in for Inception: uint8 images (N, 3, H, W) -> (N, 3) mean colour features."""

    num_features = 3

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.float().mean(dim=(2, 3))


def test_image_fid_feeds_images_through_the_feature_network():
    generator = torch.Generator().manual_seed(0)
    reference = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8, generator=generator)
    fid = ImageFID(reference, feature=MeanColour())
    assert fid(reference) == pytest.approx(0.0, abs=1e-3)
    darker = (reference // 2).to(torch.uint8)
    assert fid(darker) > 100  # mean colour halved: a large Fréchet distance on mean-colour features
    assert fid(reference) == pytest.approx(0.0, abs=1e-3)  # the fake side is reset between calls
