"""A small convolutional VAE whose latent density is re-estimated after training.

Sampling a VAE from its N(0, I) prior decodes latents the encoder never produced
(the "holes" between the clusters of the aggregate posterior) into blurry
mean-colour blobs. Following Ghosh et al. 2020 ("From Variational to
Deterministic Autoencoders"), ``fit`` therefore ends by fitting a Gaussian
mixture to the posterior means of the training images, and ``sample`` draws
latents from that mixture (``prior="gmm"``, the default); ``prior="normal"``
keeps the textbook N(0, I) prior for comparison.

The mixture is stored as plain tensors (weights, means, Cholesky factors of the
covariances) and sampled in torch, so a saved VAE loads and samples without
scikit-learn and without unpickling anything.

Measured on the embedded toy dogs with the defaults (2,480 images, 32 px, one CPU
thread, benchmarks/fidelity.py), generation 1 against the real pool: N(0, I)
prior, total variation 0.46 with 26% of samples unrecognized by the judge; a
10-component mixture 0.17 / 8%; 64 components 0.12 / 5%; 256 components
0.07-0.10 / 4-5%. With the current defaults (2,048 diagonal components in a
64-dimensional latent, 10 epochs) and the judge that also learns two-breed blends:
0.04 / 3%. The coarse colour path and the edge term are there for the
same reason (see ConvVAE and ``edge_weight``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from imagelab.data.imageset import UNLABELED, ImageSet, to_uint8
from imagelab.errors import ConfigError
from imagelab.generators.acceleration import AcceleratedConfig
from imagelab.generators.base import GENERATORS, DataSpec, FitReport, Generator
from imagelab.generators.mixture_prior import MixturePrior
from imagelab.generators.sampling_bias import breed_centres, sampling_bias_field, truncate
from imagelab.generators.training import (
    Batch,
    check_pool,
    load_warm_start,
    optimizer_steps,
    seeded_module,
    train_epochs,
    warmup_cosine,
)
from imagelab.seeding import derive_seed, sample_seeds

PRIORS = ("gmm", "normal")
COVARIANCES = ("diag", "full")  # scikit-learn's covariance_type
CHUNK = 256  # images per encoder/decoder pass outside training; sampling pads to it (see ``decode``)


@dataclass
class AutoencoderConfig(AcceleratedConfig):
    """The conv VAE's network and training settings (the ``vae`` and ``latent-diffusion`` generators)."""

    name: str = "vae"
    latent_dim: int = field(default=64, metadata={"min": 1})
    # Channels after the first downsampling; x2 per stage, at most 4x.
    width: int = field(default=16, metadata={"min": 1})
    # 10: enough for the decoder to keep rare breeds' marks at generation 1 (with 2,048 components, 8 epochs
    # kept 0.3-0.6% dalmatians of the real 1.9%, 10 epochs 0.5-0.8%; measured on two seeds).
    epochs: int = field(default=10, metadata={"min": 1})
    # Epochs when warm-started; None = epochs.
    warm_start_epochs: int | None = field(default=None, metadata={"min": 1})
    # Small batches: on a CPU budget the number of optimiser steps, not images seen, limits quality.
    batch_size: int = field(default=24, metadata={"min": 1})
    lr: float = field(default=7e-3, metadata={"min": 0.0})  # Adam, cosine-annealed to 0 over the fit
    # Peak learning rate of a warm-started fit (loop.warm_start), which fine-tunes the previous weights on its
    # own samples. At lr 7e-3, even ramped up over the first epoch, 1 of the 20 warm-started runs of the
    # published-directions sweep (benchmarks/published_directions.py) still diverged at the peak; at 2e-3
    # it converges.
    warm_start_lr: float = field(default=2e-3, metadata={"min": 0.0})
    # Weight of the KL term against the summed squared error: 2 * sigma^2 of a Gaussian decoder whose pixel
    # std is sigma (in [-1, 1] units). Small = sharp reconstructions; the mixture prior handles the rest.
    kl_weight: float = field(default=0.02, metadata={"min": 0.0})
    # Weight of the squared error on horizontal and vertical pixel differences: pushes the decoder to
    # spend its few epochs on edges (legs, ears, spots) rather than on flat colour.
    edge_weight: float = field(default=2.0, metadata={"min": 0.0})

    def __post_init__(self) -> None:
        super().__post_init__()
        # The config parser checks these bounds for YAML input; this covers direct construction too.
        for spec in fields(self):
            value, low, high = getattr(self, spec.name), spec.metadata.get("min"), spec.metadata.get("max")
            choices = spec.metadata.get("choices")
            if choices and value not in choices:
                raise ConfigError(f"generator.{spec.name}",
                                  f"must be one of {', '.join(choices)}; got {value!r}")
            if low is not None and value is not None and value < low:
                raise ConfigError(f"generator.{spec.name}", f"must be >= {low}, got {value!r}")
            if high is not None and value is not None and value > high:
                raise ConfigError(f"generator.{spec.name}", f"must be <= {high}, got {value!r}")
        for key in ("lr", "warm_start_lr"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"generator.{key}", f"must be > 0, got {getattr(self, key)!r}")

    def autoencoder_fields(self) -> dict[str, Any]:
        """The values of this class's own fields (not a subclass's): what builds the autoencoder."""
        return {spec.name: getattr(self, spec.name) for spec in fields(AutoencoderConfig) if spec.name != "name"}


@dataclass
class VAEConfig(AutoencoderConfig):
    """Settings of the ``vae`` generator; the defaults suit the embedded toy-dog lab on a small CPU."""

    name: str = "vae"
    # Epochs of a warm-started fit (loop.warm_start, on in the embedded default); None = epochs. It starts from
    # weights that already decode the pool it is given (the previous generation's samples), so 2 epochs adapt
    # them. The default lab then takes 0.43 of the wall time of training every generation from scratch for
    # 10 epochs (benchmarks/default_run.py); 3 epochs took 86 s against 2 epochs' 77 s (seed 0, one run each).
    warm_start_epochs: int | None = field(default=2, metadata={"min": 1})
    prior: str = field(default="gmm", metadata={"choices": PRIORS})  # gmm: re-fitted mixture; normal: N(0, I)
    # At most one per training image (fewer when the pool is smaller). About one per 1.2 training images: the
    # mixture is then close to a kernel density estimate of the training latents, so a sample is a slightly
    # moved copy of one training dog's code rather than a blend of neighbouring breeds. Measured at
    # generation 1 of the default lab (two seeds): 1,024 components 4.3-5.2% unrecognized, TV 0.06-0.07;
    # 2,048 components 2.7-3.2%, TV 0.04, at the same fitting time.
    gmm_components: int = field(default=2048, metadata={"min": 1})
    # "diag" fits 1,024 components in 64 dimensions ~6x faster than "full", with the same fidelity (measured).
    gmm_covariance: str = field(default="diag", metadata={"choices": COVARIANCES})
    # Added to the covariances' diagonals, in latent units^2.
    gmm_reg_covar: float = field(default=1e-4, metadata={"min": 0.0})
    # Scales each component's spread; 1.0 = unbiased. With about one component per training latent it
    # barely moves precision or recall (issue 16); generator.sampling_bias is the sampling-bias knob.
    temperature: float = field(default=1.0, metadata={"min": 0.0})
    # 0 = unbiased; > 0 moves each sampled latent toward the mean latent of its component's breed
    # (truncation, psi = 1 - sampling_bias; see sampling_bias.py).
    sampling_bias: float = sampling_bias_field()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.temperature <= 0:
            raise ConfigError("generator.temperature", f"must be > 0, got {self.temperature!r}")
        if self.sampling_bias > 0 and self.prior != "gmm":
            raise ConfigError("generator.sampling_bias", "moves latents toward their mixture component's breed, "
                              "so it needs prior: gmm; set generator.prior=gmm or generator.sampling_bias=0")


def downsampling_stages(resolution: int) -> int:
    """Stride-2 stages from ``resolution`` down to the 4x4 bottleneck (3 for 32 px)."""
    stages = round(math.log2(resolution / 4)) if resolution >= 8 else 0
    if stages < 1 or 4 * 2**stages != resolution:
        raise ConfigError("data.resolution",
                          f"the vae needs 8, 16, 32, 64, ... (4 * 2^k) pixels, got {resolution}")
    return stages


class ConvVAE(nn.Module):
    """Stride-2 convs down to 4x4 and back up with transposed convs, plus a coarse colour path.

    The coarse path carries an (R/4)x(R/4) average-pooled copy of the image into the
    latent and adds a bilinearly upsampled (R/4)x(R/4) colour field to the decoder's
    output. Smooth backgrounds of any hue are then almost linear in the latent, which
    a conv decoder alone takes many epochs to learn (measured: reconstruction MSE
    0.029 -> 0.014 after 8 epochs), and the convs are left with the dog.
    """

    def __init__(self, resolution: int, width: int, latent_dim: int) -> None:
        super().__init__()
        stages = downsampling_stages(resolution)
        channels = [width * min(2**i, 4) for i in range(stages)]
        self.latent_dim = latent_dim
        self.coarse = resolution // 4

        layers: list[nn.Module] = []
        previous = 3
        for c in channels:  # (B, c, R / 2^(i+1), R / 2^(i+1))
            layers += [nn.Conv2d(previous, c, 4, stride=2, padding=1), nn.SiLU()]
            previous = c
        self.features = nn.Sequential(*layers, nn.Flatten())  # (B, channels[-1] * 16)
        self.to_latent = nn.Linear(channels[-1] * 16 + 3 * self.coarse**2, 2 * latent_dim)

        layers = [nn.Linear(latent_dim, channels[-1] * 16), nn.SiLU(), nn.Unflatten(1, (channels[-1], 4, 4))]
        for c_in, c_out in zip(channels[::-1], channels[-2::-1]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.SiLU()]
        layers += [nn.ConvTranspose2d(channels[0], 3, 4, stride=2, padding=1)]
        self.decoder = nn.Sequential(*layers)  # (B, 3, R, R) detail, before the output nonlinearity
        self.to_coarse = nn.Linear(latent_dim, 3 * self.coarse**2)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, R, R) in [-1, 1] -> posterior mean and log-variance, each (B, latent_dim)."""
        pooled = F.adaptive_avg_pool2d(images, self.coarse).flatten(1)  # (B, 3 * (R/4)^2)
        hidden = torch.cat([self.features(images), pooled.to(images.dtype)], dim=1)
        mean, log_var = self.to_latent(hidden).float().chunk(2, dim=1)
        return mean, log_var

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim) -> (B, 3, R, R) in [-1, 1]."""
        detail = self.decoder(latents)
        coarse = self.to_coarse(latents).view(-1, 3, self.coarse, self.coarse)
        coarse = F.interpolate(coarse, size=detail.shape[-2:], mode="bilinear", align_corners=False)
        return torch.tanh(detail + coarse)

    def forward(self, images: torch.Tensor,
                noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One training pass: reconstruction (B, 3, R, R) from a reparameterised latent, mean, log-variance.

        ``noise`` (B, latent_dim) is the standard-normal draw of the reparameterisation. Training goes
        through ``forward`` (not encode/decode) so that DistributedDataParallel sees the pass.
        """
        mean, log_var = self.encode(images)
        latents = mean + noise * torch.exp(0.5 * log_var)
        return self.decode(latents), mean, log_var


def vae_loss(model: nn.Module, images: torch.Tensor, noise: torch.Tensor, kl_weight: float,
             edge_weight: float, pixels: float | None = None) -> torch.Tensor:
    """Training loss per pixel: (squared error + edge_weight * edge error + kl_weight * KL) / pixels.

    ``model`` is a ConvVAE (or a DistributedDataParallel around one); ``noise`` (B, latent_dim) is the
    standard-normal draw of the reparameterisation. ``pixels`` defaults to ``images.numel()``; a process
    that holds part of a batch passes the whole batch's count divided by the number of processes, so
    that the gradients DistributedDataParallel averages are those of the whole batch.
    """
    reconstruction, mean, log_var = model(images, noise)
    reconstruction = reconstruction.float()
    error = F.mse_loss(reconstruction, images, reduction="sum")
    if edge_weight:
        difference = reconstruction - images
        edges = difference.diff(dim=-1).square().sum() + difference.diff(dim=-2).square().sum()
        error = error + edge_weight * edges
    kl = 0.5 * torch.sum(mean.square() + log_var.exp() - 1.0 - log_var)
    return (error + kl_weight * kl) / (images.numel() if pixels is None else pixels)


@GENERATORS.register("vae")
class VAE(Generator):
    """Convolutional VAE sampled from a Gaussian mixture over its training latents (Ghosh et al. 2020)."""

    Config = VAEConfig
    config: VAEConfig

    def __init__(self, config: VAEConfig, data: DataSpec, device: torch.device) -> None:
        super().__init__(config, data, device)
        self.acceleration = config.acceleration(device)  # precision, layout and compilation on this device
        downsampling_stages(data.resolution)  # refuse an unsupported resolution now, not after data loading
        self.model: ConvVAE | None = None
        self.prior: MixturePrior | None = None
        # For sampling_bias (prior gmm): the mean training latent of each breed, (num_classes + 1, D), the last
        # row that of unlabelled images; and the breed of each mixture component, (components,).
        self.breed_centres: torch.Tensor | None = None
        self.component_breeds: torch.Tensor | None = None

    def _new_model(self, seed: int) -> ConvVAE:
        config = self.config
        model = seeded_module(lambda: ConvVAE(self.data.resolution, config.width, config.latent_dim), seed)
        return model.to(self.device, memory_format=self.acceleration.memory_format)

    def fit(self, pool: ImageSet, *, seed: int, warm_start: Generator | None = None) -> FitReport:
        config = self.config
        check_pool(pool, self.data.resolution, "vae")

        # 1. Network: fresh from the seed, or the previous generation's weights.
        model = self._new_model(derive_seed(seed, "init"))
        epochs = config.epochs
        if warm_start is not None:
            load_warm_start(model, warm_start.model if isinstance(warm_start, VAE) else None, "vae")
            epochs = config.warm_start_epochs or config.epochs

        # 2. Train on the whole pool held as one float tensor: no DataLoader, no per-batch conversion.
        images = pool.as_float().to(self.device).contiguous(memory_format=self.acceleration.memory_format)
        fused = self.device.type in ("cpu", "cuda")
        steps = optimizer_steps(len(pool), config.batch_size, epochs)
        if warm_start is None:  # CosineAnnealingLR, not warmup_cosine(0, steps): its rates differ in the last bits
            optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=fused)
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        else:
            # A fresh Adam's first steps move every weight by about the learning rate, whatever its gradient.
            # From trained weights that threw the log-variances from about -8 to +20 in one step and the fit
            # diverged (2 of the 20 warm-started runs of the published-directions sweep), so a warm start
            # fine-tunes at warm_start_lr, ramped up over its first epoch.
            optimizer = torch.optim.Adam(model.parameters(), lr=config.warm_start_lr, fused=fused)
            warmup = optimizer_steps(len(pool), config.batch_size, 1)
            schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(warmup, steps))

        def batch_loss(network: nn.Module, batch: Batch) -> torch.Tensor:
            # The whole batch's noise is drawn in every process: each part gets the rows it would get alone.
            noise = torch.randn(batch.size, config.latent_dim, generator=batch.rng, device=self.device)
            pixels = batch.loss_denominator(images[0].numel())
            with self.acceleration.autocast():
                return vae_loss(network, images[batch.part_rows], noise[batch.part], config.kl_weight,
                                config.edge_weight, pixels)

        report = train_epochs(model, batch_loss, optimizer, schedule=schedule, pool_size=len(pool),
                              batch_size=config.batch_size, epochs=epochs, seed=seed, device=self.device,
                              name="vae", compile=self.acceleration.compile)
        model.eval()
        self.model = model

        # 3. Re-estimate the latent density from the posterior means of the training images.
        if config.prior == "gmm":
            latents = self.encode(images)
            gmm_seed = derive_seed(seed, "gmm")
            self.prior = MixturePrior.fit(latents, config.gmm_components, config.gmm_reg_covar, gmm_seed,
                                          config.gmm_covariance)
            # 4. For sampling_bias: each component's breed is that of the training latent nearest its mean.
            labels = pool.labels.to(latents.device)
            self.breed_centres = breed_centres(latents, labels, self.data.num_classes).cpu()
            nearest = torch.cdist(self.prior.means.to(latents.device), latents).argmin(1)
            self.component_breeds = torch.where(labels == UNLABELED, self.data.num_classes, labels)[nearest].cpu()
        else:
            self.prior = MixturePrior.standard_normal(config.latent_dim)
        return report

    def runtime_facts(self) -> dict:
        return self.acceleration.describe()

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Posterior means (N, latent_dim) of float images in [-1, 1] (N, 3, R, R)."""
        model = self._fitted_model()
        chunks = [model.encode(chunk.to(self.device))[0] for chunk in images.split(CHUNK)]
        return torch.cat(chunks).float()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """uint8 images (N, 3, R, R) on the CPU for latents (N, latent_dim).

        Every pass decodes exactly CHUNK latents (the last one padded with zeros): conv
        kernels may pick another algorithm for another batch size, and a last-bit
        difference can flip a rounded pixel, so image i must not depend on n.
        """
        model = self._fitted_model()
        images = []
        for chunk in latents.split(CHUNK):
            padded = torch.cat([chunk, chunk.new_zeros(CHUNK - len(chunk), chunk.shape[1])]).to(self.device)
            images.append(to_uint8(model.decode(padded).float()[: len(chunk)]).cpu())
        if not images:
            return torch.empty(0, 3, self.data.resolution, self.data.resolution, dtype=torch.uint8)
        return torch.cat(images).contiguous()

    def sample_latents(self, n: int, *, seed: int, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents (n, latent_dim) of samples start..start+n-1 and the mixture component of each, (n,)."""
        if self.prior is None:
            raise RuntimeError("the vae must be fitted (or loaded) before sampling")
        latents, component = self.prior.sample(sample_seeds(seed, n, start), self.config.temperature)
        bias = self.config.sampling_bias
        if bias > 0:
            if self.component_breeds is None or self.breed_centres is None:
                raise ValueError("this vae was saved without its components' breeds (an earlier version), so it "
                                 "cannot sample with generator.sampling_bias > 0; refit it")
            latents = truncate(latents, self.breed_centres[self.component_breeds[component]], bias)
        return latents, component

    @property
    def sampling_chunk(self) -> int:
        return CHUNK

    def sample(self, n: int, *, seed: int) -> ImageSet:
        return self.sample_range(n, seed=seed, start=0, stop=n)

    def sample_range(self, n: int, *, seed: int, start: int, stop: int) -> ImageSet:
        latents, _ = self.sample_latents(stop - start, seed=seed, start=start)
        return ImageSet.create(self.decode(latents))

    def _fitted_model(self) -> ConvVAE:
        if self.model is None:
            raise RuntimeError("the vae must be fitted (or loaded) before use")
        return self.model

    def state_tensors(self) -> dict[str, torch.Tensor]:
        if self.model is None or self.prior is None:
            raise RuntimeError("the vae has nothing to save before it is fitted")
        network = {f"net.{k}": v for k, v in self.model.state_dict().items()}
        bias = {}
        if self.breed_centres is not None and self.component_breeds is not None:
            bias = {"bias.breed_centres": self.breed_centres, "bias.component_breeds": self.component_breeds}
        return network | self.prior.tensors() | bias

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        model = self._new_model(0)
        model.load_state_dict({k.removeprefix("net."): v for k, v in tensors.items() if k.startswith("net.")})
        self.model = model.eval()
        self.prior = MixturePrior.from_tensors(tensors)
        self.breed_centres = tensors["bias.breed_centres"].float().cpu() if "bias.breed_centres" in tensors else None
        breeds = tensors.get("bias.component_breeds")
        self.component_breeds = breeds.long().cpu() if breeds is not None else None
