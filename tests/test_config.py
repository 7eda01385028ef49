import subprocess
import sys

import pytest
import yaml

from imagelab.config import RunConfig, config_from_dict, load_config, preset_names
from imagelab.errors import ConfigError
from imagelab.pools.regimes import MixConfig


def test_no_config_is_the_default_lab_and_matches_the_toy_vae_preset():
    default = load_config()
    assert default.generator.name == "vae" and default.loop.regime == "replace"
    assert default.loop.generations == 10 and default.data.name == "toydogs" and default.data.resolution == 32
    assert load_config("toy-vae").to_dict() == default.to_dict()


def test_the_default_fine_tunes_later_generations_and_toy_vae_fresh_is_it_trained_from_scratch():
    default, fresh = load_config(), load_config("toy-vae-fresh")
    assert default.loop.warm_start and default.generator.warm_start_epochs == 2
    assert not fresh.loop.warm_start
    assert {**fresh.to_dict(), "loop": {**fresh.to_dict()["loop"], "warm_start": True}} == default.to_dict()
    # The null on the default's settings is one override away: no vae key in the file stands in its way.
    assert load_config(None, ["generator.name=resample"]).loop.warm_start


def test_presets_are_listed_and_every_preset_resolves():
    names = preset_names()
    assert "toy-vae" in names and "toy-resample" in names
    for name in names:
        assert isinstance(load_config(name), RunConfig)


def test_dotted_overrides_take_yaml_values():
    config = load_config(None, ["loop.generations=20", "data.imbalance.profile=counts",
                                "data.imbalance.counts=[400,50,5]", "data.breeds=[beagle,dachshund,dalmatian]",
                                "eval.detection_floor=1e-2", "generator.name=resample"])
    assert config.loop.generations == 20
    assert config.data.imbalance.counts == [400, 50, 5]
    assert config.data.breeds == ["beagle", "dachshund", "dalmatian"]
    assert config.eval.detection_floor == 0.01
    assert config.generator.name == "resample"


def test_resolved_config_round_trips_through_yaml():
    config = load_config(None, ["loop.generations=3"])
    again = config_from_dict(yaml.safe_load(config.to_yaml()))
    assert again.to_dict() == config.to_dict()


@pytest.mark.parametrize(
    "override, message",
    [
        ("loop.generatoins=3", r"loop\.generatoins: unknown key; allowed under 'loop': generations, regime"),
        ("loop.generations=abc", r"loop\.generations: must be an integer, got 'abc'"),
        ("loop.generations=-1", r"loop\.generations: must be between 0 and 10000, got -1"),
        ("loop.real_fraction=1.5", r"loop\.real_fraction: must be between 0.0 and 1.0"),
        ("device=tpu", r"device: must be one of auto, cpu, cuda, mps; got 'tpu'"),
        ("data.imbalance.profile=zipff", r"data\.imbalance\.profile: must be one of exponential, zipf"),
        ("generator.name=ddmp", r"generator\.name: unknown generator 'ddmp'; available: .*resample.*vae"),
        ("loop.regime=recycle", r"loop\.regime: unknown regime 'recycle'; available: accumulate, "
                                r"accumulate-subsample, mix, replace"),
        ("data.name=imagenet", r"data\.name: unknown dataset 'imagenet'; available: folder, oxford_pets, toydogs"),
        ("generator.latent_dimm=3", r"generator\.latent_dimm: unknown key; allowed under 'generator'"),
        ("loop=3", r"loop: must be a section"),
        ("data.imbalance.counts=[1,2]", r"data\.imbalance\.counts: is only used with profile 'counts'"),
        ("seed=true", r"seed: must be an integer, got True"),
        ("eval.nearest_k=0", r"eval\.nearest_k: must be >= 1, got 0"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_missing_file_and_unknown_preset_are_explained(tmp_path):
    with pytest.raises(ConfigError, match="no config file .*missing.yaml"):
        load_config(str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="unknown preset 'toy-vea'; available: .*toy-vae"):
        load_config("toy-vea")
    bad = tmp_path / "bad.yaml"
    bad.write_text("loop: [unclosed")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(str(bad))


def test_the_cli_exits_2_with_one_line_and_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "imagelab.cli", "run", "loop.generations=many",
                             "--out", str(tmp_path / "r")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "imagelab: error: loop.generations: must be an integer, got 'many'"
    assert not (tmp_path / "r").exists()
    # The same with the override after the option (argparse alone would call it an unrecognized argument).
    result = subprocess.run([sys.executable, "-m", "imagelab", "run", "--out", str(tmp_path / "r"),
                             "loop.generations=many"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "imagelab: error: loop.generations: must be an integer, got 'many'"
    assert not (tmp_path / "r").exists()


def test_presets_with_flat_loop_keys_fill_the_regime_section():
    assert load_config("alemohammad-fresh").regime == MixConfig(real_fraction=0.5, real_source="fresh")
    assert load_config("bertrand-mix").regime == MixConfig(real_fraction=0.5, real_source="fixed")
    for name in preset_names():
        config = load_config(name)
        assert (config.loop.regime == "mix") == isinstance(config.regime, MixConfig)


def test_a_section_and_its_alias_say_the_same_and_a_filters_settings_need_that_filter():
    by_alias = load_config(None, ["loop.filter=confident", "loop.filter_threshold=0.7",
                                  "loop.regime=mix", "loop.real_fraction=0.25"])
    by_section = load_config(None, ["loop.filter=confident", "filter.threshold=0.7",
                                    "loop.regime=mix", "regime.real_fraction=0.25"])
    assert by_alias.to_dict() == by_section.to_dict()
    assert by_alias.to_dict()["filter"] == {"threshold": 0.7} and "filter_threshold" not in by_alias.to_dict()["loop"]
    with pytest.raises(ConfigError, match=r"loop\.filter_threshold: and filter\.threshold are the same setting"):
        load_config(None, ["loop.filter=confident", "loop.filter_threshold=0.7", "filter.threshold=0.7"])
    with pytest.raises(ConfigError, match=r"loop\.detector_recall: is only used by filter provenance \(filter is "
                                          r"'confident'\); remove it or set loop\.filter=provenance"):
        load_config(None, ["loop.filter=confident", "loop.detector_recall=0.5"])
    with pytest.raises(ConfigError, match=r"filter\.threshold: is only used by filter confident"):
        load_config(None, ["filter.threshold=0.5"])
    with pytest.raises(ConfigError, match=r"regime\.window: unknown key; regime mix takes only: real_fraction, "
                                          r"real_fraction_schedule, real_source"):
        load_config(None, ["loop.regime=mix", "regime.window=3"])


def test_a_resolved_config_of_the_flat_layout_still_loads():
    # config.yaml of a run made before the regime and filter sections: every flat key at its default.
    old = load_config(None, ["loop.generations=3"]).to_dict()
    del old["regime"], old["filter"]
    old["loop"].update(real_fraction=0.0, real_fraction_schedule=None, real_source="fixed", filter_threshold=0.9,
                       detector_recall=0.9, detector_false_positive_rate=0.05)
    assert config_from_dict(old).to_dict() == load_config(None, ["loop.generations=3"]).to_dict()


@pytest.mark.parametrize("name", ["gmm", "resample", "ddpm", "ddpm-cond", "diffusers-pipeline"])
def test_a_generator_without_a_sampling_bias_mechanism_refuses_the_setting_and_names_those_with_one(name):
    with pytest.raises(ConfigError, match=r"generator\.sampling_bias: is only used by generator "
                                          rf"latent-diffusion, vae \(generator is '{name}'\)"):
        load_config(None, [f"generator.name={name}", "generator.sampling_bias=0.5"])


@pytest.mark.parametrize("name", ["vae", "latent-diffusion"])
def test_generators_with_a_sampling_bias_mechanism_take_it_in_0_to_1(name):
    assert load_config(None, [f"generator.name={name}", "generator.sampling_bias=0.25"]).generator.sampling_bias == 0.25
    with pytest.raises(ConfigError, match=r"generator\.sampling_bias: must be between 0.0 and 1.0"):
        load_config(None, [f"generator.name={name}", "generator.sampling_bias=1.5"])
