"""Third-party regimes and filters (tests/pool_plugins.py): found by path and by entry point, configured
through their own Config keys, and run in a tiny lab whose pools show what they did."""

import csv
from pathlib import Path

import pytest
import torch

from imagelab.cli import main
from imagelab.config import load_config
from imagelab.data.imageset import ImageSet
from imagelab.errors import ConfigError
from imagelab.judge.judgement import Judgement
from imagelab.pools.filters import FILTERS
from imagelab.pools.regimes import REGIMES, PoolHistory, build_filter, build_regime, next_pool
from imagelab.registry import DISABLE_AUTOLOAD_ENV
from tests.pool_plugins import MostConfident, MostConfidentConfig, Thinned, ThinnedConfig

REGIME_PATH, FILTER_PATH = "tests.pool_plugins:Thinned", "tests.pool_plugins:MostConfident"


@pytest.fixture
def plugin_site(tmp_path, monkeypatch) -> Path:
    """A distribution 'installed' on sys.path whose entry points name the test plugins; autoload enabled."""
    site = tmp_path / "site"
    info = site / "imagelab_pool_plugins-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: imagelab-pool-plugins\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[imagelab.regimes]\nthinned = {REGIME_PATH}\n\n"
                                           f"[imagelab.filters]\nmost-confident = {FILTER_PATH}\n"
                                           "broken-filter = imagelab_no_such_module_xyz:Filter\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    for registry in (REGIMES, FILTERS):  # the shared registries, plugin lookup undone (restored afterwards)
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
        monkeypatch.setattr(registry, "_plugins_loaded", False)
        monkeypatch.setattr(registry, "broken", {})
    return site


def test_entry_points_register_a_regime_and_a_filter_and_list_them(plugin_site, capsys):
    assert REGIMES.get("thinned") is Thinned and FILTERS.get("most-confident") is MostConfident
    sources = {entry.name: entry.source for entry in REGIMES.entries() + FILTERS.entries()}
    assert sources["thinned"] == sources["most-confident"] == "entry point imagelab-pool-plugins"
    assert sources["mix"] == "built-in"
    assert "imagelab_no_such_module_xyz" in FILTERS.broken["broken-filter"]
    assert main(["list", "regimes"]) == 0 and "thinned" in capsys.readouterr().out.splitlines()
    assert main(["list", "filters"]) == 0
    assert {"most-confident", "confident", "none"} <= set(capsys.readouterr().out.splitlines())


def test_their_settings_are_parsed_by_their_own_config(plugin_site):
    config = load_config(None, ["loop.regime=thinned", "regime.keep_every=3",
                                "loop.filter=most-confident", "filter.count=12"])
    assert config.regime == ThinnedConfig(keep_every=3) and config.filter == MostConfidentConfig(count=12)
    assert "keep_every: 3" in config.to_yaml() and "count: 12" in config.to_yaml()
    by_path = load_config(None, [f"loop.regime={REGIME_PATH}", f"loop.filter={FILTER_PATH}"])
    assert by_path.regime == ThinnedConfig() and by_path.filter == MostConfidentConfig()  # their defaults


@pytest.mark.parametrize("overrides, message", [
    (["regime.keep_every=0"], r"regime\.keep_every: must be >= 1, got 0"),
    (["regime.keep_every=two"], r"regime\.keep_every: must be an integer, got 'two'"),
    (["filter.count=0"], r"filter\.count: must be >= 1, got 0"),
    (["regime.count=3"], r"regime\.count: unknown key; regime .*Thinned takes only: keep_every"),
    (["loop.real_fraction=0.5"], r"loop\.real_fraction: is only used by regime mix \(regime is '.*'\)"),
    (["regime.real_fraction=0.5"], r"regime\.real_fraction: is only used by regime mix"),
    (["filter.threshold=0.5"], r"filter\.threshold: is only used by filter confident"),
])
def test_a_bad_setting_names_the_key_and_what_is_allowed(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [f"loop.regime={REGIME_PATH}", f"loop.filter={FILTER_PATH}", *overrides])


def test_the_filter_receives_the_judgement_of_each_sample_set():
    real = ImageSet.create(torch.zeros(10, 3, 1, 1, dtype=torch.uint8), torch.zeros(10, dtype=torch.int64))
    samples = ImageSet(torch.arange(8, dtype=torch.uint8).view(8, 1, 1, 1).expand(8, 3, 1, 1).clone(),
                       torch.zeros(8, dtype=torch.int64), torch.ones(8, dtype=torch.int64))
    confidence = torch.tensor([0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.4, 0.6])
    judgement = Judgement(samples.labels, samples.labels, confidence, torch.zeros(8, 2))
    config = load_config(None, [f"loop.regime={REGIME_PATH}", "regime.keep_every=1",
                                f"loop.filter={FILTER_PATH}", "filter.count=3"])
    history = PoolHistory(real, [samples], seed=0, judgements=[judgement], num_breeds=1)
    pool = next_pool(build_regime(config), build_filter(config), history)
    assert pool.images[:, 0, 0, 0].tolist() == [1, 3, 5]  # confidences 0.9, 0.8, 0.7


def test_a_tiny_lab_runs_them_and_its_pools_show_their_effect(plugin_site, tiny_overrides, tmp_path):
    out = tmp_path / "run"
    # The regime by its entry-point name, the filter by its path; the real pool holds 85 images.
    code = main(["run", "--out", str(out), *tiny_overrides, "loop.regime=thinned", "regime.keep_every=3",
                 f"loop.filter={FILTER_PATH}", "filter.count=30"])
    assert code == 0
    with open(out / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    pools = [(int(row["pool_size"]), float(row["pool_real_share"])) for row in rows]
    # Generation 1: every 3rd of the 85 real images; generation 2: every 3rd of the 30 most confident samples.
    assert pools == [(85, 1.0), (29, 1.0), (10, 0.0)]
    assert "regime:\n  keep_every: 3\nfilter:\n  count: 30\n" in (out / "config.yaml").read_text()
