"""Every registered generator honours the protocol: fit, seeded sampling, save/load."""

import pytest
import torch

from imagelab.data.imageset import ImageSet
from imagelab.data.toydogs import render_dogs
from imagelab.generators import GENERATORS, DataSpec, load_generator

# Settings that make each generator train in a second or two; defaults otherwise.
TINY_DIFFUSION = {"epochs": 1, "batch_size": 16, "sampling_steps": 2, "sample_batch_size": 16}
TINY_UNET = {"base_channels": 8, "channel_mult": [1, 2]}
FAST = {
    "vae": {"epochs": 2},
    "gmm": {"pca_dimensions": 8, "components": 3},
    "ddpm": TINY_DIFFUSION | TINY_UNET,
    "ddpm-cond": TINY_DIFFUSION | TINY_UNET,
    "diffusers-pipeline": TINY_DIFFUSION,  # plus the path of a tiny saved pipeline (fixture below)
    "latent-diffusion": {"epochs": 1, "latent_dim": 8, "width": 8, "denoiser_width": 16, "denoiser_blocks": 1,
                         "denoiser_steps": 6, "denoiser_batch_size": 16, "sampling_steps": 2},
}
RESOLUTION = 16


def save_tiny_pipeline(directory) -> str:
    """A DDPMPipeline with a tiny UNet2DModel, saved as a user would (diffusers' save_pretrained)."""
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=RESOLUTION, block_out_channels=(8, 16), down_block_types=("DownBlock2D",) * 2,
                       up_block_types=("UpBlock2D",) * 2, layers_per_block=1, norm_num_groups=2)
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=100)).save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory) -> str:
    return save_tiny_pipeline(tmp_path_factory.mktemp("pipeline"))


@pytest.fixture(scope="module")
def pool() -> ImageSet:
    breeds = torch.tensor([0] * 24 + [5] * 12 + [9] * 4)
    images = render_dogs(breeds, list(range(len(breeds))), RESOLUTION)
    # Labels 0..2 in the generator's breed space.
    return ImageSet.create(images, torch.tensor([0] * 24 + [1] * 12 + [2] * 4))


@pytest.fixture
def make(request):
    def build(name: str):
        settings = dict(FAST.get(name, {}))
        if name == "diffusers-pipeline":
            settings["path"] = request.getfixturevalue("pipeline_dir")
        cls = GENERATORS.get(name)
        return cls(cls.Config(name=name, **settings), DataSpec(RESOLUTION, 3), torch.device("cpu"))

    return build


@pytest.mark.parametrize("name", GENERATORS.names())
def test_fit_gives_finite_losses_and_samples_are_uint8_images(name, pool, make):
    generator = make(name)
    report = generator.fit(pool, seed=1)
    assert all(torch.isfinite(torch.tensor(report.losses)))
    samples = generator.sample(10, seed=5)
    assert samples.images.dtype == torch.uint8 and samples.images.shape == (10, 3, RESOLUTION, RESOLUTION)
    assert samples.labels.shape == (10,)


@pytest.mark.parametrize("name", GENERATORS.names())
def test_sampling_is_reproducible_per_sample(name, pool, make):
    generator = make(name)
    generator.fit(pool, seed=1)
    first = generator.sample(12, seed=5).images
    assert torch.equal(first, generator.sample(12, seed=5).images)
    assert torch.equal(first[:4], generator.sample(4, seed=5).images)  # image i depends on (seed, i) only
    assert not torch.equal(first, generator.sample(12, seed=6).images)


@pytest.mark.parametrize("name", GENERATORS.names())
def test_a_range_of_a_sample_is_that_range_of_the_whole_sample(name, pool, make):
    """What one process of a multi-process run draws: a range starting on a sampling-pass boundary."""
    generator = make(name)
    generator.fit(pool, seed=1)
    chunk = generator.sampling_chunk
    n = 2 * chunk + 3
    whole = generator.sample(n, seed=5)
    for start, stop in [(0, chunk), (chunk, n), (2 * chunk, n)]:
        part = generator.sample_range(n, seed=5, start=start, stop=stop)
        assert torch.equal(part.images, whole.images[start:stop]), (start, stop)
        assert torch.equal(part.labels, whole.labels[start:stop]), (start, stop)


@pytest.mark.parametrize("name", GENERATORS.names())
def test_fitting_is_reproducible_from_the_seed(name, pool, make):
    a, b = make(name), make(name)
    a.fit(pool, seed=3)
    b.fit(pool, seed=3)
    assert torch.equal(a.sample(8, seed=0).images, b.sample(8, seed=0).images)


@pytest.mark.parametrize("name", GENERATORS.names())
def test_save_and_load_round_trip(name, pool, make, tmp_path):
    generator = make(name)
    generator.fit(pool, seed=1)
    generator.save(tmp_path / "gen")
    assert {p.name for p in (tmp_path / "gen").iterdir()} == {"config.json", "model.safetensors"}
    loaded = load_generator(tmp_path / "gen", torch.device("cpu"))
    assert type(loaded) is type(generator) and loaded.config == generator.config
    assert torch.equal(loaded.sample(9, seed=2).images, generator.sample(9, seed=2).images)
