"""The latent-diffusion generator's own behaviour: guidance, sampling bias, modes, warm start, errors.

The protocol checks every generator shares (finite loss, per-sample seeds, ranges,
save/load) live in test_generators.py; the split of a batch over processes in
test_multiprocess.py. Tiny: 16 px, an 8-d latent, a 16-wide denoiser, a few steps.
"""

from __future__ import annotations

import pytest
import torch

from imagelab.data.imageset import UNLABELED, ImageSet
from imagelab.data.toydogs import render_dogs
from imagelab.errors import ConfigError, DataError
from imagelab.generators import DataSpec, NonFiniteLossError, load_generator
from imagelab.generators.latent_diffusion import LatentDiffusion, LatentDiffusionConfig
from imagelab.generators.samplers import sampler_names

SPEC = DataSpec(16, 3)
CPU = torch.device("cpu")
TINY = {"epochs": 1, "latent_dim": 8, "width": 8, "denoiser_width": 16, "denoiser_blocks": 1,
        "denoiser_steps": 6, "denoiser_batch_size": 16, "sampling_steps": 3}


def make(**overrides) -> LatentDiffusion:
    return LatentDiffusion(LatentDiffusionConfig(**(TINY | overrides)), SPEC, CPU)


def with_settings(fitted: LatentDiffusion, **overrides) -> LatentDiffusion:
    """The fitted model's weights under other sampling settings."""
    other = make(**overrides)
    other.load_state_tensors(fitted.state_tensors())
    return other


@pytest.fixture(scope="module")
def pool() -> ImageSet:
    breeds = torch.tensor([0] * 24 + [5] * 12 + [9] * 4)
    images = render_dogs(breeds, [500 + i for i in range(len(breeds))], 16)
    return ImageSet.create(images, torch.tensor([0] * 24 + [1] * 12 + [2] * 4))


@pytest.fixture(scope="module")
def fitted(pool) -> LatentDiffusion:
    generator = make()
    generator.fit(pool, seed=1)
    return generator


def test_guidance_changes_the_samples_but_not_the_breeds(fitted):
    plain = with_settings(fitted, guidance_weight=0.0).sample(12, seed=3)
    guided = with_settings(fitted, guidance_weight=2.0).sample(12, seed=3)
    assert torch.equal(plain.labels, guided.labels)
    assert not torch.equal(plain.images, guided.images)


def test_sampling_bias_moves_latents_toward_their_breeds_mean(fitted, monkeypatch):
    unbiased = with_settings(fitted, sampling_bias=0.0)
    assert torch.equal(unbiased.sample(12, seed=3).images, fitted.sample(12, seed=3).images)  # 0 is unbiased
    decoded = []
    monkeypatch.setattr(fitted.autoencoder, "decode", lambda latents: decoded.append(latents) or
                        torch.zeros(len(latents), 3, 16, 16, dtype=torch.uint8))
    labels = fitted.sample(40, seed=3).labels
    biased = with_settings(fitted, sampling_bias=0.75)
    monkeypatch.setattr(biased.autoencoder, "decode", lambda latents: decoded.append(latents) or
                        torch.zeros(len(latents), 3, 16, 16, dtype=torch.uint8))
    assert torch.equal(biased.sample(40, seed=3).labels, labels)  # the same breeds, drawn closer to their mean
    free, pulled = ((latents - fitted.shift) / fitted.scale for latents in decoded)
    centres = fitted.breed_centres[labels]
    assert torch.allclose(pulled - centres, 0.25 * (free - centres), atol=1e-4)


def test_sampling_bias_changes_the_images(fitted):
    assert not torch.equal(with_settings(fitted, sampling_bias=0.5).sample(8, seed=3).images,
                           fitted.sample(8, seed=3).images)


@pytest.mark.parametrize("sampler", sampler_names())
def test_every_sampler_samples_reproducibly(fitted, sampler):
    generator = with_settings(fitted, sampler=sampler)
    first = generator.sample(6, seed=2).images
    assert torch.equal(first, generator.sample(6, seed=2).images)
    assert torch.equal(first[:3], generator.sample(3, seed=2).images)


def test_breeds_are_drawn_in_proportion_to_the_training_pool(fitted):
    shares = torch.bincount(fitted.sample(400, seed=0).labels, minlength=3).double() / 400
    assert torch.allclose(shares, torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64), atol=0.07)


def test_unconditional_mode_learns_and_samples_without_labels(pool, tmp_path):
    generator = make(conditional=False, guidance_weight=0.0)
    generator.fit(ImageSet.create(pool.images), seed=0)  # an unlabelled pool is fine without conditioning
    samples = generator.sample(5, seed=1)
    assert bool((samples.labels == UNLABELED).all())
    generator.save(tmp_path / "gen")
    assert torch.equal(load_generator(tmp_path / "gen", CPU).sample(5, seed=1).images, samples.images)


def test_the_conditional_model_refuses_an_unlabelled_pool(pool):
    with pytest.raises(DataError, match="conditional=false"):
        make().fit(ImageSet.create(pool.images), seed=0)


def test_warm_start_continues_from_the_previous_weights(fitted, pool):
    warm = make(lr=1e-12, denoiser_lr=1e-12, warm_start_epochs=1, warm_start_denoiser_steps=1)
    warm.fit(pool, seed=5, warm_start=fitted)
    previous = fitted.denoiser.state_dict()
    assert all(torch.allclose(v, previous[k], atol=1e-6) for k, v in warm.denoiser.state_dict().items())
    with pytest.raises(ValueError, match="fitted latent-diffusion"):
        make().fit(pool, seed=0, warm_start=object())


def test_a_diverging_fit_stops_with_a_non_finite_loss(pool):
    with pytest.raises(NonFiniteLossError, match="latent-diffusion denoiser"):
        make(denoiser_lr=1e30).fit(pool, seed=0)


def test_bad_settings_name_the_key():
    with pytest.raises(ConfigError, match="generator.sampling_bias"):
        LatentDiffusionConfig(sampling_bias=1.5)
    with pytest.raises(ConfigError, match="generator.sampling_bias"):
        LatentDiffusionConfig(conditional=False, guidance_weight=0.0, sampling_bias=0.5)
    with pytest.raises(ConfigError, match="generator.guidance_weight"):
        LatentDiffusionConfig(conditional=False)
    with pytest.raises(ConfigError, match="generator.sampler"):
        LatentDiffusionConfig(sampler="euler")
    with pytest.raises(ConfigError, match="data.resolution"):
        LatentDiffusion(LatentDiffusionConfig(), DataSpec(24, 3), CPU)
