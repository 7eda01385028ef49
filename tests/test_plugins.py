"""Third-party generators: the example plugin found through its entry point and by path; broken plugins reported."""

from pathlib import Path

import pytest
import torch

from imagelab.cli import main
from imagelab.config import load_config
from imagelab.generators import GENERATORS, DataSpec, load_generator
from imagelab.registry import DISABLE_AUTOLOAD_ENV, Registry

EXAMPLE_SRC = Path(__file__).parent.parent / "examples" / "imagelab-example-generator" / "src"
EXAMPLE_PATH = "imagelab_example_generator:PixelGaussian"


def install_metadata(site: Path, distribution: str, entry_points: dict[str, str]) -> None:
    """What `pip install` leaves behind for importlib.metadata: a .dist-info with METADATA and entry_points.txt."""
    info = site / f"{distribution.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[imagelab.generators]\n{lines}")


@pytest.fixture
def plugin_site(tmp_path, monkeypatch) -> Path:
    """The example plugin and a broken one 'installed' into a directory on sys.path, autoload enabled."""
    site = tmp_path / "site"
    install_metadata(site, "imagelab-example-generator", {"pixel-gaussian": EXAMPLE_PATH})
    install_metadata(site, "imagelab-broken-plugin", {"broken-gen": "imagelab_no_such_module_xyz:Generator"})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(EXAMPLE_SRC))  # the package itself, as an installed copy would be importable
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    # The shared registry, with its plugin lookup undone (and restored after the test).
    monkeypatch.setattr(GENERATORS, "_entries", dict(GENERATORS._entries))
    monkeypatch.setattr(GENERATORS, "_plugins_loaded", False)
    monkeypatch.setattr(GENERATORS, "broken", {})
    return site


def test_example_plugin_is_discovered_through_its_entry_point(plugin_site):
    registry = Registry("generator", entry_point_group="imagelab.generators")
    entries = {entry.name: entry for entry in registry.entries()}
    assert entries["pixel-gaussian"].source == "entry point imagelab-example-generator"
    assert entries["pixel-gaussian"].location == EXAMPLE_PATH
    assert "No module named 'imagelab_no_such_module_xyz'" in registry.broken["broken-gen"]


def test_autoload_switch_hides_entry_point_plugins(plugin_site, monkeypatch):
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    registry = Registry("generator", entry_point_group="imagelab.generators")
    assert registry.names() == [] and registry.broken == {}


def test_list_generators_shows_plugins_and_sources_and_survives_a_broken_one(plugin_site, capsys):
    assert main(["list", "generators"]) == 0
    out, err = capsys.readouterr()
    names = out.splitlines()
    assert {"vae", "ddpm", "pixel-gaussian"} <= set(names) and names == sorted(names)  # one name per line
    assert "generator plugin 'broken-gen' failed to load" in err

    assert main(["list", "generators", "--verbose"]) == 0
    rows = {line.split("\t")[0]: line.split("\t") for line in capsys.readouterr().out.splitlines()}
    assert rows["pixel-gaussian"][1:3] == ["entry point imagelab-example-generator", EXAMPLE_PATH]
    assert rows["vae"][1] == "built-in"
    assert rows["pixel-gaussian"][3].startswith("Per-breed, per-pixel Gaussian")


def test_a_plugin_named_by_entry_point_configures_fits_samples_and_reloads(plugin_site, tmp_path):
    config = load_config(None, ["generator.name=pixel-gaussian", "generator.spread=0.5"])
    cls = GENERATORS.get("pixel-gaussian")
    generator = cls(config.generator, DataSpec(8, 2), torch.device("cpu"))
    from imagelab.data.imageset import ImageSet

    pool = ImageSet.create(torch.randint(0, 256, (30, 3, 8, 8), dtype=torch.uint8), torch.tensor([0] * 20 + [1] * 10))
    assert torch.isfinite(torch.tensor(generator.fit(pool, seed=0).losses)).all()
    samples = generator.sample(6, seed=1)
    generator.save(tmp_path / "gen")
    reloaded = load_generator(tmp_path / "gen", torch.device("cpu"))
    assert torch.equal(reloaded.sample(6, seed=1).images, samples.images)
    assert torch.equal(samples.images[:2], generator.sample(2, seed=1).images)


def test_a_plugin_named_by_its_path_needs_no_entry_point(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE_SRC))
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    config = load_config(None, [f"generator.name={EXAMPLE_PATH}", "generator.spread=0.25"])
    assert type(config.generator).__name__ == "PixelGaussianConfig" and config.generator.spread == 0.25
    assert GENERATORS.get(EXAMPLE_PATH).__name__ == "PixelGaussian"
