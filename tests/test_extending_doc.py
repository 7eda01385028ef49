"""docs/extending.md's examples run as written: its code blocks are executed, and the generator, regime
and filter they register in-process are configured, used, and run together in a tiny lab."""

import csv
import re
import sys
import types
from pathlib import Path

import pytest
import torch

from imagelab.cli import main
from imagelab.config import load_config, parse_dataclass
from imagelab.data.imageset import ImageSet
from imagelab.errors import ConfigError
from imagelab.generators import GENERATORS, DataSpec, load_generator
from imagelab.judge.judgement import Judgement
from imagelab.pools.filters import FILTERS
from imagelab.pools.regimes import REGIMES, PoolHistory, build_filter, build_regime, next_pool

GUIDE = Path(__file__).parent.parent / "docs" / "extending.md"


@pytest.fixture
def guide(monkeypatch) -> types.ModuleType:
    """The guide's Python blocks, executed in one module; the registries they add to are restored after."""
    for registry in (GENERATORS, REGIMES, FILTERS):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    module = types.ModuleType("extending_guide")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for block in re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL):
        exec(compile(block, str(GUIDE), "exec"), module.__dict__)  # noqa: S102 (the guide is ours)
    return module


def test_the_guide_has_an_example_of_each_kind_and_a_metrics_section():
    text = GUIDE.read_text()
    assert len(re.findall(r"```python\n", text)) == 4  # bounds, generator, regime, filter
    assert "\n## Metrics\n" in text


def test_the_settings_example_is_checked_by_the_parser(guide):
    with pytest.raises(ConfigError, match=r"s\.share: must be between 0.0 and 1.0, got 2.0"):
        parse_dataclass(guide.Settings, {"share": 2}, "s.")
    with pytest.raises(ConfigError, match=r"s\.sizes\[1\]: must be >= 1, got 0"):
        parse_dataclass(guide.Settings, {"sizes": [2, 0]}, "s.")


def test_the_generator_fits_samples_reproducibly_and_reloads(guide, tmp_path):
    config = load_config(None, ["generator.name=noisy-copy", "generator.noise=0.2"])
    assert config.generator == guide.NoisyCopyConfig(noise=0.2)
    with pytest.raises(ConfigError, match=r"generator\.noise: must be >= 0.0"):
        load_config(None, ["generator.name=noisy-copy", "generator.noise=-1"])
    generator = GENERATORS.get("noisy-copy")(config.generator, DataSpec(4, 2), torch.device("cpu"))
    pool = ImageSet.create(torch.randint(0, 256, (10, 3, 4, 4), dtype=torch.uint8), torch.arange(10) % 2)
    generator.fit(pool, seed=0)
    samples = generator.sample(6, seed=1)
    assert samples.images.shape == (6, 3, 4, 4)
    assert torch.equal(generator.sample(2, seed=1).images, samples.images[:2])  # image i from its own seed
    generator.save(tmp_path / "g")
    reloaded = load_generator(tmp_path / "g", torch.device("cpu"))
    assert torch.equal(reloaded.sample(6, seed=1).images, samples.images)


def test_the_regime_and_the_filter_compose_the_pools_they_promise(guide):
    config = load_config(None, ["loop.regime=sliding-window", "regime.window=2",
                                "loop.filter=most-confident", "filter.share=0.5"])
    assert config.regime == guide.SlidingWindowConfig(window=2)
    assert config.filter == guide.MostConfidentConfig(share=0.5)
    real = ImageSet.create(torch.zeros(4, 3, 1, 1, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64))
    samples = [ImageSet(torch.zeros(4, 3, 1, 1, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64),
                        torch.full((4,), g, dtype=torch.int64)) for g in (1, 2, 3)]
    confidence = torch.tensor([0.9, 0.1, 0.8, 0.2])
    judgements = [Judgement(s.labels, s.labels, confidence, torch.zeros(4, 2)) for s in samples]
    history = PoolHistory(real, samples, seed=5, judgements=judgements, num_breeds=1)
    pool = next_pool(build_regime(config), build_filter(config), history)
    # The two most confident of each of generations 2 and 3: four images, none of generation 1.
    assert sorted(pool.provenance.tolist()) == [2, 2, 3, 3]
    with pytest.raises(ConfigError, match=r"filter\.share: must be > 0.0 and <= 1.0, got 0.0"):
        load_config(None, ["loop.filter=most-confident", "filter.share=0"])


def test_a_tiny_lab_runs_the_three_together(guide, tiny_overrides, tmp_path):
    out = tmp_path / "run"
    overrides = [item for item in tiny_overrides if not item.startswith("generator.")]  # noisy-copy has no epochs
    assert main(["run", "--out", str(out), *overrides, "generator.name=noisy-copy",
                 "loop.regime=sliding-window", "loop.filter=most-confident", "filter.share=0.25"]) == 0
    with open(out / "metrics.csv") as handle:
        pools = [(int(row["pool_size"]), float(row["pool_real_share"])) for row in csv.DictReader(handle)]
    # 85 real images; generation 2 learns the most confident quarter of generation 1's 85 samples.
    assert pools == [(85, 1.0), (85, 1.0), (21, 0.0)]
