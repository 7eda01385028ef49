"""The GPU code paths, run on a CPU: bf16 autocast, channels_last and torch.compile (inductor) for each generator.

Each of ddpm, ddpm-cond and latent-diffusion fits and samples under each setting, on 8 px
images with the smallest networks, one epoch and two sampling steps, next to the same fit
in float32 with the defaults. ``torch.compile`` is slow to compile on a CPU (minutes with an
empty inductor cache, seconds with a warm one; see docs/speed.md), so each generator has one
compiled fit and sample, marked ``compile`` (``-m "not compile"`` leaves them out).
"""

from __future__ import annotations

import math

import pytest
import torch

from imagelab.config import load_config
from imagelab.data.imageset import ImageSet
from imagelab.data.toydogs import render_dogs
from imagelab.errors import ConfigError
from imagelab.generators import GENERATORS, DataSpec
from imagelab.generators.acceleration import AcceleratedConfig

RESOLUTION = 8
SPEC = DataSpec(RESOLUTION, 2)
CPU = torch.device("cpu")
SAMPLES = 4
# One batch per epoch (the pool is one batch), so a compiled fit traces one shape.
TINY_UNET = {"epochs": 1, "batch_size": 16, "warmup_steps": 0, "sampling_steps": 2, "sample_batch_size": SAMPLES,
             "base_channels": 4, "channel_mult": [1]}
TINY = {
    "ddpm": TINY_UNET,
    "ddpm-cond": TINY_UNET | {"guidance_weight": 1.0},
    "latent-diffusion": {"epochs": 1, "batch_size": 16, "latent_dim": 4, "width": 4, "denoiser_width": 8,
                         "denoiser_blocks": 1, "denoiser_steps": 1, "denoiser_batch_size": 16, "sampling_steps": 2},
}
SETTINGS = {"bf16": {"precision": "bf16"}, "channels_last": {"channels_last": True}, "compile": {"compile": True}}


@pytest.fixture(scope="module")
def pool() -> ImageSet:
    breeds = torch.tensor([0] * 8 + [5] * 8)
    return ImageSet.create(render_dogs(breeds, list(range(16)), RESOLUTION), torch.tensor([0] * 8 + [1] * 8))


def fitted(name: str, pool: ImageSet, **settings):
    """A ``name`` generator fitted to ``pool`` with the tiny settings plus ``settings``; its losses; 4 samples."""
    cls = GENERATORS.get(name)
    generator = cls(cls.Config(name=name, **TINY[name], **settings), SPEC, CPU)
    losses = generator.fit(pool, seed=0).losses
    return generator, losses, generator.sample(SAMPLES, seed=1)


@pytest.fixture(scope="module")
def plain(pool) -> dict:
    """Each generator fitted with the defaults (on a CPU: float32, contiguous, not compiled)."""
    return {name: fitted(name, pool) for name in TINY}


def network(generator) -> torch.nn.Module:
    """The network that samples: the UNet, or latent-diffusion's denoiser."""
    return generator.denoiser if hasattr(generator, "denoiser") else generator.unet


def conv_weights(generator) -> list[torch.Tensor]:
    model = generator.autoencoder.model if hasattr(generator, "autoencoder") else generator.unet
    return [p for p in model.parameters() if p.dim() == 4 and p.shape[-1] > 1]


def check_fit_and_samples(generator, losses, samples) -> None:
    assert losses and all(math.isfinite(loss) for loss in losses)
    assert samples.images.shape == (SAMPLES, 3, RESOLUTION, RESOLUTION) and samples.images.dtype == torch.uint8
    assert samples.images.float().std() > 1  # not a constant image


# --- the settings themselves ---------------------------------------------------------------------


def test_auto_is_on_for_cuda_and_off_elsewhere():
    config = AcceleratedConfig()
    assert config.acceleration(CPU).describe() == {"precision": "fp32", "channels_last": False, "compiled": False}
    cuda = config.acceleration(torch.device("cuda"))  # resolving needs no GPU
    assert cuda.describe() == {"precision": "bf16", "channels_last": True, "compiled": True}
    explicit = AcceleratedConfig(precision="bf16", channels_last=True, compile=True).acceleration(CPU)
    assert explicit.describe() == {"precision": "bf16", "channels_last": True, "compiled": True}
    assert explicit.memory_format == torch.channels_last
    off = AcceleratedConfig(precision="fp32", channels_last=False, compile=False)
    assert off.acceleration(torch.device("cuda")).describe()["compiled"] is False


def test_the_keys_parse_from_overrides_and_name_themselves_when_wrong():
    config = load_config(None, ["generator.name=ddpm", "generator.precision=bf16", "generator.compile=true",
                                "generator.channels_last=false"]).generator
    assert (config.precision, config.compile, config.channels_last) == ("bf16", True, False)
    assert load_config(None, ["generator.name=latent-diffusion"]).generator.compile == "auto"
    with pytest.raises(ConfigError, match="generator.precision: must be one of auto, fp32, bf16"):
        load_config(None, ["generator.precision=fp16"])
    with pytest.raises(ConfigError, match="generator.compile: must be one of auto, true, false"):
        load_config(None, ["generator.compile=2"])
    with pytest.raises(ConfigError, match="generator.channels_last"):
        AcceleratedConfig(channels_last="sometimes")


def test_bf16_where_torch_has_no_autocast_is_a_config_error():
    with pytest.raises(ConfigError, match="generator.precision: bf16 autocast is not available on meta"):
        AcceleratedConfig(precision="bf16").acceleration(torch.device("meta"))


# --- each generator under each setting, on a CPU -------------------------------------------------


@pytest.mark.parametrize("name", list(TINY))
def test_bf16_autocast_fits_and_samples(name, pool, plain):
    generator, losses, samples = fitted(name, pool, **SETTINGS["bf16"])
    check_fit_and_samples(generator, losses, samples)
    # The network really ran in bfloat16: its outputs are bf16 under the generator's autocast...
    outputs = []
    hook = network(generator).register_forward_hook(lambda module, args, output: outputs.append(output))
    generator.sample(1, seed=1)
    hook.remove()
    output = outputs[0] if isinstance(outputs[0], torch.Tensor) else outputs[0].sample
    assert output.dtype == torch.bfloat16
    # ...while the weights stay float32, and the loss moved (bf16 rounding) but only a little.
    assert all(p.dtype == torch.float32 for p in network(generator).parameters())
    _, plain_losses, _ = plain[name]
    assert losses != plain_losses
    assert losses == pytest.approx(plain_losses, rel=0.05)


@pytest.mark.parametrize("name", list(TINY))
def test_channels_last_fits_and_samples(name, pool, plain):
    generator, losses, samples = fitted(name, pool, **SETTINGS["channels_last"])
    check_fit_and_samples(generator, losses, samples)
    weights = conv_weights(generator)
    assert weights and all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
                           for w in weights)
    # The same arithmetic in another layout: the same fit up to float rounding.
    _, plain_losses, plain_samples = plain[name]
    assert losses == pytest.approx(plain_losses, rel=1e-4)
    assert (samples.images.float() - plain_samples.images.float()).abs().mean() < 1.0


@pytest.mark.compile
@pytest.mark.parametrize("name", list(TINY))
def test_compiled_fit_and_sampling_match_the_uncompiled_ones(name, pool, plain):
    generator, losses, samples = fitted(name, pool, **SETTINGS["compile"])
    check_fit_and_samples(generator, losses, samples)
    assert generator.runtime_facts()["compiled"] is True
    # The unwrapped module is what is kept and saved (no torch.compile "_orig_mod." prefixes).
    assert not any("_orig_mod" in key for key in generator.state_tensors())
    _, plain_losses, plain_samples = plain[name]
    assert losses == pytest.approx(plain_losses, rel=1e-4)
    assert (samples.images.float() - plain_samples.images.float()).abs().max() <= 2
    assert torch.equal(samples.labels, plain_samples.labels)
