"""A diffusion generator that cannot learn the data is refused before the run starts: exit 2, no run folder."""

import torch

from imagelab.cli import main
from imagelab.config import config_from_dict, load_config
from imagelab.generators import DataSpec
from imagelab.generators.diffusers_pipeline import DiffusersPipeline, DiffusersPipelineConfig
from tests.test_generators import save_tiny_pipeline

HUB_ID = "google/ddpm-cifar10-32"


def pipeline_run(path, out, *overrides) -> list[str]:
    return ["run", "generator.name=diffusers-pipeline", f"generator.path={path}", *overrides, "--out", str(out)]


def refused(arguments: list[str], out, capsys) -> str:
    """The one-line error of a run that must stop with exit 2 before writing its folder."""
    assert main(arguments) == 2
    assert not out.exists()
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    return error


def test_a_pipeline_built_for_another_size_is_refused_before_the_judge_trains(tmp_path, capsys):
    pipeline = save_tiny_pipeline(tmp_path / "pipeline")  # a 16 px UNet
    error = refused(pipeline_run(pipeline, tmp_path / "run", "data.resolution=32"), tmp_path / "run", capsys)
    assert "the unet was built for 16 px images, the data is 32 px; set data.resolution=16" in error


def test_a_pipeline_that_is_not_rgb_is_refused(tmp_path, capsys):
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    unet = UNet2DModel(sample_size=16, in_channels=1, out_channels=1, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2,
                       layers_per_block=1, norm_num_groups=2)
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=10)).save_pretrained(tmp_path / "grey")
    error = refused(pipeline_run(tmp_path / "grey", tmp_path / "run", "data.resolution=16"), tmp_path / "run",
                    capsys)
    assert "the unet maps 1-channel images to 1 channels; it must map 3-channel (RGB) images" in error


def test_a_hub_id_is_refused_with_how_to_download_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no folder named like the id here
    error = refused(pipeline_run(HUB_ID, tmp_path / "run"), tmp_path / "run", capsys)
    assert f"generator.path: '{HUB_ID}' is not a local folder" in error
    assert "it looks like a Hugging Face Hub id, but imagelab loads local folders only" in error
    assert f"huggingface-cli download {HUB_ID} --local-dir DIR" in error
    assert f"DDPMPipeline.from_pretrained('{HUB_ID}').save_pretrained('DIR')" in error
    assert "then set generator.path=DIR" in error


def test_a_missing_local_folder_is_named(tmp_path, capsys):
    error = refused(pipeline_run(tmp_path / "gone", tmp_path / "run"), tmp_path / "run", capsys)
    assert f"generator.path: the folder {tmp_path / 'gone'} does not exist" in error


def test_a_relative_path_is_stored_absolute_and_means_the_same_folder_elsewhere(tmp_path, monkeypatch):
    save_tiny_pipeline(tmp_path / "pipeline")
    monkeypatch.chdir(tmp_path)
    config = load_config(None, ["generator.name=diffusers-pipeline", "generator.path=pipeline"])
    assert config.generator.path == str(tmp_path / "pipeline")
    stored = config.to_dict()  # what config.yaml holds
    assert stored["generator"]["path"] == str(tmp_path / "pipeline")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a resume from another directory re-reads the stored config
    assert config_from_dict(stored).generator.path == str(tmp_path / "pipeline")


def test_a_ddpm_too_deep_for_the_resolution_is_refused_before_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    error = refused(["run", "generator.name=ddpm", "generator.channel_mult=[1,2,2,2,2,2]", "data.resolution=16",
                     "--out", str(out)], out, capsys)
    assert "generator.channel_mult: 6 levels halve the image 5 times; 16 px is not divisible by 32" in error


def test_a_matching_pipeline_passes_the_check(tmp_path):
    config = DiffusersPipelineConfig(path=save_tiny_pipeline(tmp_path / "pipeline"))
    DiffusersPipeline.check_data(config, 16)  # a 16 px UNet for 16 px data: no error
    assert DiffusersPipeline(config, DataSpec(16, 3), torch.device("cpu")).folder == tmp_path / "pipeline"
