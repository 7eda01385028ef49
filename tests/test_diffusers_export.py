"""A generation of a diffusion run exported as a diffusers pipeline folder, and sampled with diffusers alone."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import imagelab
from imagelab.cli import main
from imagelab.data.imageset import ImageSet
from imagelab.data.toydogs import render_dogs
from imagelab.errors import UserError
from imagelab.generators import GENERATORS, DataSpec
from imagelab.generators.ddpm_cond import DDPMCond, DDPMCondConfig
from imagelab.generators.diffusers_export import EXPORT_INFO_FILE, export_diffusers_pipeline
from tests.conftest import TINY_OVERRIDES
from tests.test_ddpm import TINY
from tests.test_generators import RESOLUTION

TINY_DDPM = ["generator.name=ddpm", "generator.base_channels=8", "generator.channel_mult=[1,2]",
             "generator.sampling_steps=2", "generator.sample_batch_size=64", "loop.generations=1"]


@pytest.fixture(scope="module")
def ddpm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddpm") / "run"
    assert main(["run", *TINY_OVERRIDES, *TINY_DDPM, "--out", str(out)]) == 0
    return out


def test_an_exported_generation_samples_with_ddpm_pipeline(ddpm_run, tmp_path, capsys):
    from diffusers import DDPMPipeline

    out = tmp_path / "pipeline"
    assert main(["export", str(ddpm_run), "--generation", "1", "--out", str(out)]) == 0
    assert f"Exported generation 1 to {out}" in capsys.readouterr().out
    pipeline = DDPMPipeline.from_pretrained(out)
    pipeline.set_progress_bar_config(disable=True)
    images = pipeline(batch_size=2, num_inference_steps=2, generator=torch.Generator().manual_seed(0),
                      output_type="np").images
    assert images.shape == (2, RESOLUTION, RESOLUTION, 3)
    assert np.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
    assert images.std() > 0  # not one flat colour
    info = json.loads((out / EXPORT_INFO_FILE).read_text())
    assert info["generation"] == 1 and info["generator"]["name"] == "ddpm" and len(info["breeds"]) == 3


def test_the_exported_unet_holds_the_weights_the_generation_samples_with(ddpm_run, tmp_path):
    run = imagelab.load_run(ddpm_run)
    out = run.export(1, tmp_path / "pipeline")
    exported = load_file(str(out / "unet" / "diffusion_pytorch_model.safetensors"))
    # The generation's own file: the EMA weights that sampled gen_001, saved with a "unet." prefix.
    saved = {name.removeprefix("unet."): tensor
             for name, tensor in load_file(str(run.generation_dir(1) / "generator" / "model.safetensors")).items()}
    assert exported.keys() == saved.keys()
    assert all(torch.equal(exported[name], saved[name]) for name in saved)
    generator = run.generator(1)
    assert all(torch.equal(tensor, exported[name]) for name, tensor in generator.unet.state_dict().items())
    scheduler = json.loads((out / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["_class_name"] == "DDPMScheduler"
    assert scheduler["beta_schedule"] == generator.config.beta_schedule
    assert scheduler["num_train_timesteps"] == generator.config.train_timesteps


def test_bad_exports_exit_2_and_write_nothing(ddpm_run, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    cases = [
        ([str(ddpm_run), "--generation", "1", "--out", str(taken)], "exists and is not an empty folder"),
        ([str(ddpm_run), "--generation", "7", "--out", str(tmp_path / "a")], "has no generation 7"),
        ([str(ddpm_run), "--generation", "0", "--out", str(tmp_path / "a")], "generation 0 is the real pool"),
        ([str(tmp_path / "no-run"), "--generation", "1", "--out", str(tmp_path / "a")], "does not exist"),
    ]
    for arguments, message in cases:
        assert main(["export", *arguments]) == 2
        assert message in capsys.readouterr().err
    assert [path.name for path in taken.iterdir()] == ["notes.txt"]
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("name", ["vae", "gmm", "resample"])
def test_generators_without_a_unet_are_refused_with_the_ones_that_can(name, tmp_path):
    cls = GENERATORS.get(name)
    generator = cls(cls.Config(name=name), DataSpec(RESOLUTION, 3), torch.device("cpu"))
    with pytest.raises(UserError, match=f"the {name} generator cannot be exported as a diffusers pipeline: .*"
                                        r"\(ddpm, ddpm-cond, diffusers-pipeline\)"):
        export_diffusers_pipeline(generator, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_conditional_export_samples_its_unet_with_class_labels(tmp_path):
    from diffusers import DDPMScheduler, UNet2DModel

    breeds = torch.tensor([0] * 12 + [5] * 8 + [9] * 4)
    pool = ImageSet.create(render_dogs(breeds, list(range(24)), RESOLUTION), torch.tensor([0] * 12 + [1] * 8 + [2] * 4))
    generator = DDPMCond(DDPMCondConfig(**TINY), DataSpec(RESOLUTION, 3), torch.device("cpu"))
    generator.fit(pool, seed=0)
    out = export_diffusers_pipeline(generator, tmp_path / "pipeline")
    unet = UNet2DModel.from_pretrained(out, subfolder="unet")
    assert all(torch.equal(tensor, unet.state_dict()[name]) for name, tensor in generator.unet.state_dict().items())
    assert json.loads((out / EXPORT_INFO_FILE).read_text())["null_class_label"] == 3
    scheduler = DDPMScheduler.from_pretrained(out, subfolder="scheduler")
    scheduler.set_timesteps(2)
    sample = torch.randn(2, 3, RESOLUTION, RESOLUTION, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for timestep in scheduler.timesteps:
            noise = unet(sample, timestep, class_labels=torch.tensor([0, 2])).sample
            sample = scheduler.step(noise, timestep, sample).prev_sample
    assert sample.shape == (2, 3, RESOLUTION, RESOLUTION) and torch.isfinite(sample).all()
