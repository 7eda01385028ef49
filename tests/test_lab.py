"""The Python API: imagelab.run takes any kind of config and returns its run; load_run reads it back."""

import fcntl
import logging
import os
from dataclasses import dataclass

import pytest
import torch
import yaml

import imagelab
from imagelab import lab, plugin
from imagelab.config import RunConfig, load_config, preset_dir
from imagelab.data.imageset import ImageSet
from imagelab.errors import ConfigError, RunFolderError
from imagelab.generators import GENERATORS
from imagelab.runs import lock as run_lock

# The fastest lab: the resample generator (no training), one generation; the judge comes from the cache.
RESAMPLE = ["generator.name=resample", "loop.generations=1"]


def resample_overrides(tiny_overrides):
    return [o for o in tiny_overrides if not o.startswith(("generator.", "loop.generations"))] + RESAMPLE


def test_every_kind_of_config_resolves_to_the_same_run_config(tmp_path):
    overrides = ["loop.generations=3", "data.resolution=16"]
    expected = load_config("toy-vae", overrides)
    nested = {"loop": {"generations": 3, "warm_start": True}, "data": {"resolution": 16}}  # toy-vae fine-tunes
    assert lab.resolve_config(None, overrides) == expected
    assert lab.resolve_config("toy-vae", overrides) == expected
    assert lab.resolve_config(preset_dir() / "toy-vae.yaml", overrides) == expected
    assert lab.resolve_config(load_config(), overrides) == expected
    assert lab.resolve_config(nested) == expected
    assert nested["loop"] == {"generations": 3, "warm_start": True}  # left as the caller gave it
    assert lab.resolve_config(expected, ["seed=4"]).seed == 4 and expected.seed == 0


def test_bad_configs_are_refused_naming_the_key():
    edited = load_config()
    edited.loop.generations = "many"  # a RunConfig edited by hand is checked like a YAML file
    with pytest.raises(ConfigError, match="loop.generations: must be an integer, got 'many'"):
        lab.resolve_config(edited)
    with pytest.raises(ConfigError, match="overrides: must be a list of KEY=VALUE strings"):
        lab.resolve_config(None, "loop.generations=3")
    with pytest.raises(ConfigError, match="loop.generatoins"):
        lab.resolve_config({"loop": {"generatoins": 3}})
    with pytest.raises(ConfigError, match="config: must be a RunConfig, a YAML path"):
        lab.resolve_config(42)


def test_the_default_folder_is_named_as_the_cli_names_it():
    config = load_config("toy-ddpm")
    assert lab.default_out("toy-ddpm", config).parent.as_posix() == "runs"
    assert lab.default_out("toy-ddpm", config).name.startswith("toy-ddpm-")
    assert lab.default_out(None, load_config()).name.startswith("toy-vae-")
    assert lab.default_out({}, load_config()) == lab.default_out(load_config(), load_config())
    other_seed = load_config("toy-ddpm", ["seed=1"])
    assert lab.default_out("toy-ddpm", config) != lab.default_out("toy-ddpm", other_seed)


@pytest.fixture(scope="module")
def api_run(tmp_path_factory):
    from tests.conftest import TINY_OVERRIDES

    out = tmp_path_factory.mktemp("api") / "resample"
    return imagelab.run(out=out, overrides=resample_overrides(TINY_OVERRIDES))


def test_run_returns_the_run_it_made_and_releases_its_folder(api_run):
    run = api_run
    assert isinstance(run, imagelab.Run) and run.status == "complete" and run.generations == [0, 1]
    assert run.config.generator.name == "resample" and isinstance(run.config, RunConfig)
    assert run.config_dict["generator"]["name"] == "resample"
    assert run.breeds == ("golden_retriever", "dachshund", "petit_basset_griffon_vendeen")
    assert run.manifest["status"] == "complete" and run.report_file.is_file() and run.log_file.is_file()
    assert "starting run in" in run.log_file.read_text()
    # The folder's lock is given back once the run and its report are done: another process may resume it.
    probe = os.open(run.root / run_lock.LOCK_FILE, os.O_RDWR)
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(probe)


def test_load_run_reads_each_generation_back(api_run):
    run = imagelab.load_run(api_run.root)
    assert run.metrics_file.read_text().count("\n") == 3  # header + generations 0 and 1
    assert [row["generation"] for row in run.rows] == [0, 1]
    real, judged = run.samples(0), run.judgement(0)
    assert isinstance(real, ImageSet) and real.images.dtype == torch.uint8 and real.resolution == 16
    assert len(real) == int(run.rows[0]["samples"]) and judged.labels.shape == (len(real),)
    shares = [(judged.labels == index).float().mean().item() for index in range(len(run.breeds))]
    assert shares == pytest.approx([run.rows[0][f"share_{breed}"] for breed in run.breeds])
    generator = run.generator(1)
    assert type(generator).__name__ == "Resample"
    first = run.samples(1)
    assert torch.equal(generator.sample(4, seed=1).images, generator.sample(4, seed=1).images)
    assert first.images.shape[1:] == real.images.shape[1:]


def test_what_a_run_folder_lacks_is_named(api_run, tmp_path):
    with pytest.raises(RunFolderError, match="generation 0 is the real pool"):
        api_run.generator(0)
    with pytest.raises(RunFolderError, match="has no generation 7; it has generations 0..1"):
        api_run.samples(7)
    with pytest.raises(RunFolderError, match="is not an imagelab run folder"):
        imagelab.load_run(tmp_path)
    with pytest.raises(RunFolderError, match="does not exist"):
        imagelab.load_run(tmp_path / "nothing")


def test_running_again_resumes_and_another_config_is_refused(api_run, capsys):
    before = {p: p.read_bytes() for p in api_run.root.rglob("*") if p.is_file() and "report" not in p.parts}
    config = api_run.config
    again = imagelab.run(config, out=api_run.root)  # a RunConfig read back is the same config: resumed
    assert again.metrics_file.read_bytes() == before[api_run.metrics_file]
    assert "resuming run in" in capsys.readouterr().err
    with pytest.raises(RunFolderError, match="loop.generations: 1 -> 2"):
        imagelab.run(config, out=api_run.root, overrides=["loop.generations=2"])
    after = {p: p.read_bytes() for p in api_run.root.rglob("*") if p.is_file() and "report" not in p.parts}
    assert after.keys() == before.keys() and after[api_run.metrics_file] == before[api_run.metrics_file]


def test_a_folder_whose_config_is_in_an_earlier_layout_resumes_and_is_rewritten(api_run, capsys):
    # config.yaml as runs made before the regime, filter and extra-metrics sections stored it.
    config_file, before = api_run.config_file, api_run.metrics_file.read_bytes()
    current = yaml.safe_load(config_file.read_text())
    earlier = {key: value for key, value in current.items() if key not in ("regime", "filter")}
    earlier["eval"] = {key: value for key, value in current["eval"].items() if key != "metrics"}
    earlier["loop"] = {**current["loop"], "real_fraction": 0.0, "real_fraction_schedule": None,
                       "real_source": "fixed", "filter_threshold": 0.9, "detector_recall": 0.9,
                       "detector_false_positive_rate": 0.05}
    config_file.write_text(yaml.safe_dump(earlier, sort_keys=False))

    again = imagelab.run(api_run.config, out=api_run.root)
    assert "resuming run in" in capsys.readouterr().err
    assert again.metrics_file.read_bytes() == before
    assert yaml.safe_load(config_file.read_text()) == current  # rewritten in today's resolved form
    # A stored config that means something else is still refused, and left as it was.
    config_file.write_text(yaml.safe_dump({**earlier, "loop": {**earlier["loop"], "generations": 5}}))
    with pytest.raises(RunFolderError, match="loop.generations: 5 -> "):
        imagelab.run(api_run.config, out=api_run.root)
    assert yaml.safe_load(config_file.read_text())["loop"]["generations"] == 5


def test_logging_is_put_back_after_a_run(api_run, tmp_path, tiny_overrides):
    logger = logging.getLogger("imagelab")
    handlers, level = list(logger.handlers), logger.level
    imagelab.run(out=tmp_path / "second", overrides=resample_overrides(tiny_overrides))
    assert logger.handlers == handlers and logger.level == level
    # The first run's log got nothing of the second.
    assert str(tmp_path / "second") not in api_run.log_file.read_text()


def test_a_generator_class_registered_in_process_runs_a_lab(tmp_path, tiny_overrides, monkeypatch):
    monkeypatch.setattr(GENERATORS, "_entries", dict(GENERATORS._entries))  # undone after the test
    resample = GENERATORS.get("resample")

    @dataclass
    class ShuffledConfig(resample.Config):
        name: str = "shuffled"

    class Shuffled(resample):
        """The resample null under another name, as a notebook cell would define it."""

        Config = ShuffledConfig

    assert imagelab.register_generator("shuffled", Shuffled) is Shuffled
    overrides = [o for o in resample_overrides(tiny_overrides) if o != "generator.name=resample"]
    run = imagelab.run(out=tmp_path / "shuffled", overrides=[*overrides, "generator.name=shuffled"])
    assert run.status == "complete" and type(run.generator(1)) is Shuffled
    with pytest.raises(LookupError, match="registered twice"):
        imagelab.register_generator("shuffled", Shuffled)
    with pytest.raises(TypeError, match="expected a subclass of imagelab.plugin.Generator"):
        imagelab.register_generator("not-a-generator", dict)


def test_the_plugin_module_is_the_package_s_own_objects():
    from imagelab import generators, seeding
    from imagelab.data import imageset
    from imagelab.pools import filters, regimes
    from imagelab.runtime import finite

    assert plugin.Generator is generators.Generator and plugin.GENERATORS is generators.GENERATORS
    assert plugin.ImageSet is imageset.ImageSet and plugin.UNLABELED == imageset.UNLABELED == -1
    assert plugin.check_finite is finite.check_finite is generators.base.check_finite
    assert plugin.sample_seeds is seeding.sample_seeds and plugin.torch_generator is seeding.torch_generator
    assert plugin.REGIMES is regimes.REGIMES and plugin.FILTERS is filters.FILTERS
    assert set(plugin.__all__) >= {"Generator", "GeneratorConfig", "DataSpec", "FitReport", "ImageSet",
                                   "to_uint8", "UNLABELED", "REAL", "check_finite", "NonFiniteLossError",
                                   "derive_seed", "sample_seeds", "per_sample_randn", "torch_generator",
                                   "GENERATORS", "REGIMES", "FILTERS"}
    assert all(hasattr(plugin, name) for name in plugin.__all__)
    assert {"run", "load_run", "Run", "load_config", "__version__"} <= set(imagelab.__all__)
