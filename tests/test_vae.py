"""The vae's own behaviour (its Gaussian-mixture prior, temperature, warm start, NaN guard) and the resampler.

The protocol checks every generator shares (finite loss, shapes, seeds, save/load)
live in test_generators.py; these use tiny 16 px pools and one or two epochs.
"""

from __future__ import annotations

import sys

import pytest
import torch

import imagelab.generators.vae as vae_module
from imagelab.data.imageset import ImageSet
from imagelab.data.toydogs import render_dogs
from imagelab.errors import ConfigError
from imagelab.generators import DataSpec, NonFiniteLossError, load_generator
from imagelab.generators.mixture_prior import MixturePrior
from imagelab.generators.resample import Resample, ResampleConfig
from imagelab.generators.vae import VAE, ConvVAE, VAEConfig
from imagelab.seeding import sample_seeds

RESOLUTION = 16
SPEC = DataSpec(RESOLUTION, 3)
CPU = torch.device("cpu")


def make_vae(**overrides) -> VAE:
    settings = {"epochs": 2, "latent_dim": 8, "width": 8, "gmm_components": 3} | overrides
    return VAE(VAEConfig(**settings), SPEC, CPU)


@pytest.fixture(scope="module")
def pool() -> ImageSet:
    breeds = torch.tensor([0] * 30 + [5] * 14 + [9] * 4)
    images = render_dogs(breeds, [1000 + i for i in range(len(breeds))], RESOLUTION)
    return ImageSet.create(images, torch.tensor([0] * 30 + [1] * 14 + [2] * 4))


@pytest.fixture(scope="module")
def fitted(pool) -> VAE:
    vae = make_vae()
    vae.fit(pool, seed=0)
    return vae


# --- the Gaussian-mixture prior -----------------------------------------------------------------


def test_gmm_prior_is_a_proper_mixture_fitted_to_the_training_latents(fitted, pool):
    prior = fitted.prior
    assert prior.weights.shape == (3,) and prior.means.shape == (3, 8) and prior.scale_tril.shape == (3, 8, 8)
    assert torch.allclose(prior.weights.sum(), torch.tensor(1.0)) and (prior.weights > 0).all()
    assert torch.equal(prior.scale_tril, prior.scale_tril.tril())
    assert (prior.scale_tril.diagonal(dim1=1, dim2=2) > 0).all()
    # The mixture's overall mean is the mean of the training latents (EM preserves the first moment).
    latents = fitted.encode(pool.as_float())
    assert torch.allclose(prior.weights @ prior.means, latents.mean(0), atol=1e-3)


def test_gmm_samples_lie_closer_to_the_training_latents_than_normal_prior_samples(fitted, pool):
    latents = fitted.encode(pool.as_float())
    gmm_latents, _ = fitted.sample_latents(400, seed=1)
    normal_latents, _ = MixturePrior.standard_normal(8).sample(list(range(400)))

    def mean_nearest_distance(points: torch.Tensor) -> float:
        return torch.cdist(points, latents).min(dim=1).values.mean().item()

    # A VAE's posterior means cluster well inside N(0, I); the re-fitted mixture follows them.
    assert mean_nearest_distance(gmm_latents) < 0.5 * mean_nearest_distance(normal_latents)


def test_mixture_sampling_reproduces_a_known_mixture():
    covariances = torch.tensor([[[1.0, 0.6], [0.6, 0.5]], [[0.2, 0.0], [0.0, 0.2]], [[0.5, -0.3], [-0.3, 0.4]]])
    scale_tril = torch.linalg.cholesky(covariances)
    known = MixturePrior(torch.tensor([0.6, 0.3, 0.1]), torch.tensor([[0.0, 0.0], [4.0, 4.0], [-4.0, 3.0]]), scale_tril)
    n = 20_000
    latents, component = known.sample(list(range(n)))
    share = torch.bincount(component, minlength=3).double() / n
    assert (share - known.weights.double()).abs().max() < 4 * (0.25 / n) ** 0.5  # 4 binomial standard errors
    for k in range(3):
        points = latents[component == k].double()
        assert torch.allclose(points.mean(0), known.means[k].double(), atol=0.1)
        assert torch.allclose(points.T.cov(), covariances[k].double(), atol=0.1)
    # scikit-learn's EM, as used by fit, recovers the mixture from its own samples.
    refit = MixturePrior.fit(latents, 3, 1e-6, seed=0)
    order = refit.weights.argsort(descending=True)
    assert torch.allclose(refit.weights[order], known.weights, atol=0.02)
    assert torch.allclose(refit.means[order], known.means, atol=0.1)


def test_normal_prior_is_the_standard_normal(pool):
    vae = make_vae(prior="normal", epochs=1)
    vae.fit(pool, seed=0)
    assert vae.prior.weights.tolist() == [1.0]
    assert torch.equal(vae.prior.means, torch.zeros(1, 8)) and torch.equal(vae.prior.scale_tril[0], torch.eye(8))


def test_temperature_scales_the_spread_around_each_component(fitted):
    latents, component = fitted.sample_latents(300, seed=4)
    cooled = VAE(VAEConfig(**{**vars(fitted.config), "temperature": 0.5}), SPEC, CPU)
    cooled.load_state_tensors(fitted.state_tensors())
    cool_latents, cool_component = cooled.sample_latents(300, seed=4)
    means = fitted.prior.means[component]
    assert torch.equal(component, cool_component)  # the same components, half the distance from their means
    assert torch.allclose(cool_latents - means, 0.5 * (latents - means), atol=1e-6)
    assert cool_latents.var(0).sum() < latents.var(0).sum()


def test_sampling_bias_moves_latents_toward_their_components_breed_mean(fitted, pool):
    latents, component = fitted.sample_latents(300, seed=4)
    biased = VAE(VAEConfig(**{**vars(fitted.config), "sampling_bias": 0.75}), SPEC, CPU)
    biased.load_state_tensors(fitted.state_tensors())
    biased_latents, biased_component = biased.sample_latents(300, seed=4)
    assert torch.equal(component, biased_component)
    # Each component's breed is the label of the training image whose latent lies nearest its mean.
    training = fitted.encode(pool.as_float())
    nearest = torch.cdist(fitted.prior.means, training).argmin(1)
    assert torch.equal(fitted.component_breeds, pool.labels[nearest])
    centres = torch.stack([training[pool.labels == breed].mean(0) for breed in range(3)])
    target = centres[fitted.component_breeds[component]]
    assert torch.allclose(biased_latents - target, 0.25 * (latents - target), atol=1e-4)
    assert not torch.equal(biased.sample(5, seed=4).images, fitted.sample(5, seed=4).images)


def test_sampling_bias_zero_samples_exactly_what_the_vae_always_sampled(fitted):
    unbiased = VAE(VAEConfig(**{**vars(fitted.config), "sampling_bias": 0.0}), SPEC, CPU)
    unbiased.load_state_tensors(fitted.state_tensors())
    seeds = sample_seeds(4, 20)
    assert torch.equal(unbiased.sample_latents(20, seed=4)[0], fitted.prior.sample(seeds)[0])
    assert torch.equal(unbiased.sample(20, seed=4).images, fitted.sample(20, seed=4).images)


def test_saved_prior_loads_and_samples_without_scikit_learn(fitted, tmp_path, monkeypatch):
    fitted.save(tmp_path / "vae")
    monkeypatch.setitem(sys.modules, "sklearn", None)  # any import of sklearn now fails
    loaded = load_generator(tmp_path / "vae", CPU)
    for name, tensor in fitted.prior.tensors().items():
        assert torch.equal(loaded.state_tensors()[name], tensor)
    assert torch.equal(loaded.sample(6, seed=3).images, fitted.sample(6, seed=3).images)


# --- training -----------------------------------------------------------------------------------


def test_warm_start_begins_from_the_previous_weights(fitted, pool):
    # With a vanishing learning rate, a warm-started fit keeps the previous weights and a fresh one does not.
    warm = make_vae(warm_start_lr=1e-12, warm_start_epochs=1)
    report = warm.fit(pool, seed=5, warm_start=fitted)
    assert len(report.losses) == 1  # warm_start_epochs, not epochs
    fresh = make_vae(lr=1e-12, epochs=1)
    fresh.fit(pool, seed=5)
    previous = fitted.model.state_dict()
    assert all(torch.allclose(v, previous[k], atol=1e-6) for k, v in warm.model.state_dict().items())
    assert not torch.allclose(fresh.model.state_dict()["decoder.0.weight"], previous["decoder.0.weight"])


def test_a_warm_started_vae_fine_tunes_for_two_epochs_by_default_and_a_fresh_one_trains_all(fitted, pool):
    assert len(make_vae(epochs=5).fit(pool, seed=5, warm_start=fitted).losses) == 2
    assert len(make_vae(epochs=5).fit(pool, seed=5).losses) == 5
    assert len(make_vae(epochs=5, warm_start_epochs=None).fit(pool, seed=5, warm_start=fitted).losses) == 5


def test_a_warm_start_ramps_its_own_learning_rate_up_over_its_first_epoch(fitted, pool, monkeypatch):
    # A fresh Adam's first step moves every weight by about lr; from trained weights that made warm-started fits
    # diverge, so they start near 0 and reach warm_start_lr after one epoch. A fresh fit starts at lr (cosine).
    rates: list[float] = []
    train = vae_module.train_epochs

    def recording(model, batch_loss, optimizer, **settings):
        def loss(network, batch):
            rates.append(optimizer.param_groups[0]["lr"])
            return batch_loss(network, batch)

        return train(model, loss, optimizer, **settings)

    monkeypatch.setattr(vae_module, "train_epochs", recording)
    lr, batch = 1e-3, 8
    make_vae(lr=1.0, warm_start_lr=lr, batch_size=batch, warm_start_epochs=2).fit(pool, seed=5, warm_start=fitted)
    per_epoch = -(-len(pool) // batch)
    assert len(rates) == 2 * per_epoch
    assert rates[0] == pytest.approx(lr / per_epoch)
    assert rates == sorted(rates[:per_epoch]) + rates[per_epoch:]  # rising through the first epoch
    assert max(rates) == pytest.approx(lr) and rates[-1] < lr / 2  # then the cosine decay
    rates.clear()
    make_vae(lr=lr, batch_size=batch).fit(pool, seed=5)
    assert rates[0] == pytest.approx(lr) and rates == sorted(rates, reverse=True)


def test_warm_start_refuses_another_architecture_or_kind(fitted, pool):
    with pytest.raises(ValueError, match="architecture"):
        make_vae(width=4).fit(pool, seed=0, warm_start=fitted)
    resample = Resample(ResampleConfig(), SPEC, CPU)
    resample.fit(pool, seed=0)
    with pytest.raises(ValueError, match="fitted vae"):
        make_vae().fit(pool, seed=0, warm_start=resample)


def test_exploding_training_raises_non_finite_loss_error(pool):
    # An absurd learning rate blows the weights up within the first epoch.
    with pytest.raises(NonFiniteLossError, match="vae epoch 1/"):
        make_vae(lr=1e12, epochs=3).fit(pool, seed=0)


def test_bad_settings_are_config_errors_naming_the_key():
    with pytest.raises(ConfigError, match="generator.prior"):
        VAEConfig(prior="uniform")
    with pytest.raises(ConfigError, match="generator.temperature"):
        VAEConfig(temperature=0.0)
    with pytest.raises(ConfigError, match="generator.sampling_bias"):
        VAEConfig(prior="normal", sampling_bias=0.5)
    with pytest.raises(ConfigError, match="data.resolution"):
        VAE(VAEConfig(), DataSpec(24, 3), CPU)


@pytest.mark.parametrize("resolution", [16, 32, 64])
def test_network_maps_each_resolution_to_itself(resolution):
    model = ConvVAE(resolution, width=4, latent_dim=5)
    mean, log_var = model.encode(torch.zeros(2, 3, resolution, resolution))
    assert mean.shape == log_var.shape == (2, 5)
    assert model.decode(mean).shape == (2, 3, resolution, resolution)


# --- the resampler ------------------------------------------------------------------------------


def test_resample_draws_with_replacement_from_its_pool_and_keeps_labels():
    n_pool = 12
    images = torch.arange(n_pool, dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 2, 2).contiguous()
    labels = torch.arange(n_pool) % 3
    resample = Resample(ResampleConfig(), DataSpec(2, 3), CPU)
    resample.fit(ImageSet.create(images, labels), seed=0)
    drawn = resample.sample(600, seed=7)
    index = drawn.images[:, 0, 0, 0].long()  # each pool image is filled with its own index
    assert torch.equal(drawn.images, images[index])  # only pool images, unchanged
    assert torch.equal(drawn.labels, labels[index])  # each carries its own true label
    counts = torch.bincount(index, minlength=n_pool)
    assert (counts > 0).all() and len(index.unique()) < len(index)  # every image reachable, with repeats
    assert (counts - 50).abs().max() < 4 * (600 * (1 / 12) * (11 / 12)) ** 0.5  # uniform: within 4 binomial s.e.
    assert torch.equal(resample.sample(5, seed=7).images, drawn.images[:5])  # per-sample seeds
