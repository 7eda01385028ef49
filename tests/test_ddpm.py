"""The diffusion generators' own behaviour: samplers, guidance, label sampling, warm start, errors, the loop column."""

import csv
import math

import pytest
import torch

from imagelab.cli import main
from imagelab.config import load_config
from imagelab.data.imageset import ImageSet
from imagelab.data.toydogs import render_dogs
from imagelab.errors import ConfigError, NonFiniteLossError
from imagelab.generators import DataSpec
from imagelab.generators.ddpm import DDPM, DDPMConfig
from imagelab.generators.ddpm_cond import DDPMCond, DDPMCondConfig
from imagelab.generators.diffusers_pipeline import DiffusersPipelineConfig
from imagelab.generators.samplers import sampler_names
from imagelab.metrics.asked import judged_as_asked
from tests.test_generators import TINY_DIFFUSION, TINY_UNET

SPEC = DataSpec(16, 3)
CPU = torch.device("cpu")
TINY = TINY_DIFFUSION | TINY_UNET


@pytest.fixture(scope="module")
def pool() -> ImageSet:
    breeds = torch.tensor([0] * 30 + [5] * 10)
    return ImageSet.create(render_dogs(breeds, list(range(40)), 16), torch.tensor([0] * 30 + [1] * 10))


@pytest.fixture(scope="module")
def conditional(pool) -> DDPMCond:
    generator = DDPMCond(DDPMCondConfig(**TINY), SPEC, CPU)
    generator.fit(pool, seed=0)
    return generator


@pytest.mark.parametrize(("sampler", "prediction"), [("ddim", "epsilon"), ("ddpm", "v_prediction"),
                                                     ("dpmsolver++", "v_prediction")])
def test_every_sampler_and_prediction_samples_reproducibly(sampler, prediction, pool):
    assert sampler in sampler_names()
    generator = DDPM(DDPMConfig(**TINY, sampler=sampler, prediction=prediction), SPEC, CPU)
    assert math.isfinite(generator.fit(pool, seed=1).final_loss)
    first = generator.sample(20, seed=3).images
    assert torch.equal(first[:5], generator.sample(5, seed=3).images)  # across batch splits (16 + 4 vs 5)
    assert first.float().std() > 5  # not a constant image


def test_guidance_changes_the_samples_but_not_the_labels(conditional):
    plain = conditional.sample(8, seed=2)
    guided = DDPMCond(DDPMCondConfig(**TINY, guidance_weight=3.0), SPEC, CPU)
    guided.load_state_tensors(conditional.state_tensors())
    strong = guided.sample(8, seed=2)
    assert torch.equal(plain.labels, strong.labels)
    assert (plain.images.float() - strong.images.float()).abs().mean() > 1.0


def test_labels_are_drawn_in_proportion_to_the_training_pool(conditional):
    labels = conditional._sample_labels(4000, seed=9)  # only the label draw, many at once
    assert set(labels.tolist()) == {0, 1}  # breed 2 is absent from the pool, so never asked for
    assert abs(float((labels == 0).double().mean()) - 0.75) < 0.03


def test_unlabelled_pool_is_refused_by_the_conditional_model(pool):
    unlabelled = ImageSet.create(pool.images)
    with pytest.raises(Exception, match="needs a labelled pool"):
        DDPMCond(DDPMCondConfig(**TINY), SPEC, CPU).fit(unlabelled, seed=0)


def test_warm_start_continues_from_the_previous_weights(pool):
    first = DDPM(DDPMConfig(**TINY), SPEC, CPU)
    first.fit(pool, seed=0)
    fresh, warm = DDPM(DDPMConfig(**TINY, lr=1e-12), SPEC, CPU), DDPM(DDPMConfig(**TINY, lr=1e-12), SPEC, CPU)
    fresh.fit(pool, seed=1)
    warm.fit(pool, seed=1, warm_start=first)
    before, after = first.state_tensors(), warm.state_tensors()
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)
    assert not all(torch.allclose(before[k], fresh.state_tensors()[k], atol=1e-6) for k in before)
    other = DDPM(DDPMConfig(**TINY_DIFFUSION, base_channels=12, channel_mult=[1, 2]), SPEC, CPU)
    with pytest.raises(ValueError, match="another architecture"):
        other.fit(pool, seed=1, warm_start=first)


def test_a_diverging_fit_stops_with_a_non_finite_loss(pool):
    generator = DDPM(DDPMConfig(**{**TINY, "epochs": 3, "warmup_steps": 0, "lr": 1e30}), SPEC, CPU)
    with pytest.raises(NonFiniteLossError, match="ddpm epoch"):
        generator.fit(pool, seed=0)


def test_the_default_settings_leave_the_cuda_paths_off_on_a_cpu(pool):
    # precision, channels_last and compile default to auto: off on a CPU (test_acceleration.py runs them on).
    generator = DDPM(DDPMConfig(**TINY), SPEC, CPU)
    assert generator.runtime_facts() == {"precision": "fp32", "channels_last": False, "compiled": False}
    generator.fit(pool, seed=0)
    assert generator.unet is not None and not hasattr(generator.unet, "_orig_mod")
    assert generator.sample(3, seed=0).images.shape == (3, 3, 16, 16)


def test_bad_settings_name_the_key():
    with pytest.raises(ConfigError, match="generator.base_channels"):
        DDPMConfig(base_channels=10)
    with pytest.raises(ConfigError, match="generator.channel_mult"):
        DDPM(DDPMConfig(channel_mult=[1, 2, 2, 2, 2, 2]), DataSpec(16, 3), CPU)
    with pytest.raises(ConfigError, match="generator.sampler: must be one of ddim, ddpm, dpmsolver\\+\\+"):
        load_config(None, ["generator.name=ddpm", "generator.sampler=euler"])
    with pytest.raises(ConfigError, match="generator.guidance_weight"):
        load_config(None, ["generator.name=ddpm-cond", "generator.guidance_weight=-1"])


def test_diffusers_pipeline_without_a_usable_folder_is_a_user_error(tmp_path, capsys):
    with pytest.raises(ConfigError, match="generator.path: the diffusers-pipeline generator needs the folder"):
        DiffusersPipelineConfig()
    with pytest.raises(ConfigError, match="unet/config.json is missing"):
        DiffusersPipelineConfig(path=str(tmp_path))
    assert main(["run", "generator.name=diffusers-pipeline", f"generator.path={tmp_path}",
                 "--out", str(tmp_path / "run")]) == 2
    assert "is not a saved diffusers pipeline" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_diffusers_pipeline_refuses_a_unet_built_for_another_size(tmp_path):
    from imagelab.generators.diffusers_pipeline import DiffusersPipeline
    from tests.test_generators import save_tiny_pipeline

    config = DiffusersPipelineConfig(path=save_tiny_pipeline(tmp_path / "pipeline"))  # a 16 px UNet
    with pytest.raises(ConfigError, match="built for 16 px images, the data is 32 px"):
        DiffusersPipeline(config, DataSpec(32, 3), CPU)


def test_judged_as_asked_counts_agreement_only_where_a_breed_was_asked():
    asked, judged = torch.tensor([0, 1, 1, -1, 2]), torch.tensor([0, 1, -1, 0, 1])
    assert judged_as_asked(asked, judged) == pytest.approx(2 / 4)
    assert math.isnan(judged_as_asked(torch.full((3,), -1), torch.tensor([0, 1, 2])))


def test_conditional_lab_runs_and_its_next_pool_carries_the_asked_breeds(tmp_path, tiny_overrides):
    out = tmp_path / "run"
    overrides = tiny_overrides + ["generator.name=ddpm-cond", "generator.base_channels=8",
                                  "generator.channel_mult=[1,2]", "generator.sampling_steps=2",
                                  "generator.guidance_weight=1.0", "generator.sample_batch_size=64",
                                  "loop.generations=1"]
    assert main(["run", *overrides, "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert 0.0 <= float(rows[1]["judged_as_asked"]) <= 1.0
    assert not math.isnan(float(rows[0]["judged_as_asked"]))  # generation 0: the judge against the real labels
    samples = ImageSet.load(out / "gen_001" / "samples.safetensors")
    assert bool((samples.labels >= 0).all()) and len(samples.labels.unique()) > 1
