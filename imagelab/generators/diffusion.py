"""What every diffusion generator shares: training on a noise schedule, EMA weights, sampling, state.

A diffusion generator is a diffusers ``UNet2DModel`` and the noise schedule it is
trained for (a ``DDPMScheduler``); subclasses say where each comes from (``ddpm``
builds its UNet from its config, ``diffusers-pipeline`` loads one from a folder) and
the class-conditional variant adds labels and guidance through the hooks below.

Training is the DDPM recipe (Ho et al. 2020): noise a training image to a random
timestep and regress the noise (``prediction: epsilon``) or the velocity
(``v_prediction``, Salimans & Ho 2022) with a squared error; an exponential moving
average of the weights (diffusers' ``EMAModel``, with its warm-up so that short CPU
fits average over a sensible window) is what samples and what is saved. Sampling
runs a scheduler from ``imagelab.generators.samplers`` (``dpmsolver++``, ``ddim``
or ``ddpm``) for ``sampling_steps`` steps.

Reproducibility: the initial noise of image i, its per-step noise (``ddpm`` sampler)
and, in the conditional variant, its label come from per-sample seeds, and every
UNet pass has exactly ``sample_batch_size`` rows (the last one padded), so image i
depends only on the seed and i, never on how many images are drawn.

The fit keeps the whole pool on the device as one tensor. ``precision``, ``channels_last``
and ``compile`` (acceleration.py) choose bf16 autocast, the NHWC layout and
``torch.compile`` for the UNet in training and sampling; by default all three are on for
CUDA and off elsewhere.

diffusers is imported only when a model is built: importing it takes seconds, and a
run with another generator never needs it.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass, field, fields
from typing import Any, Callable

import torch
import torch.nn.functional as F

from imagelab.data.imageset import ImageSet, to_uint8
from imagelab.errors import ConfigError
from imagelab.generators.acceleration import AcceleratedConfig
from imagelab.generators.base import DataSpec, FitReport, Generator, GeneratorConfig
from imagelab.generators.samplers import SAMPLERS, sampler_names
from imagelab.generators.training import (
    Batch,
    check_pool,
    load_warm_start,
    optimizer_steps,
    seeded_module,
    train_epochs,
    warmup_cosine,
)
from imagelab.runtime.progress import progress_bar
from imagelab.seeding import derive_seed, per_sample_randn, sample_seeds, torch_generator


def check_fields(config: GeneratorConfig) -> None:
    """Bounds and choices from field metadata (the config parser checks YAML; this, direct construction)."""
    for spec in fields(config):
        value, low, high = getattr(config, spec.name), spec.metadata.get("min"), spec.metadata.get("max")
        choices = spec.metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"generator.{spec.name}", f"must be one of {', '.join(choices)}; got {value!r}")
        if value is not None and ((low is not None and value < low) or (high is not None and value > high)):
            raise ConfigError(f"generator.{spec.name}", f"must be between {low} and {high}, got {value!r}")


@dataclass
class DiffusionConfig(AcceleratedConfig):
    """Training and sampling settings shared by the diffusion generators."""

    epochs: int = field(default=20, metadata={"min": 1})
    # Epochs when warm-started; None = epochs.
    warm_start_epochs: int | None = field(default=None, metadata={"min": 1})
    batch_size: int = field(default=32, metadata={"min": 1})
    lr: float = field(default=2e-3, metadata={"min": 0.0})  # AdamW; linear warm-up, then cosine to 0
    warmup_steps: int = field(default=100, metadata={"min": 0})
    # Largest EMA decay; EMAModel ramps up to it as 1 - (1 + step)^(-2/3). 0 samples the raw weights.
    ema_decay: float = field(default=0.999, metadata={"min": 0.0, "max": 0.99999})
    # ddim: on the toy model it came within 1 FID point of 1,000 ancestral steps in 20 steps, where
    # DPM-Solver++ was worst and got worse with more steps (benchmarks/ddpm_fid_vs_steps.py, README).
    sampler: str = field(default="ddim", metadata={"choices": sampler_names()})
    sampling_steps: int = field(default=20, metadata={"min": 1})
    clip_sample: bool = True  # clamp each step's predicted clean image to [-1, 1] (see samplers.py)
    sample_batch_size: int = field(default=256, metadata={"min": 1})  # rows per UNet pass while sampling

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fields(self)
        if self.lr <= 0:
            raise ConfigError("generator.lr", f"must be > 0, got {self.lr!r}")


class DiffusionGenerator(Generator):
    """A UNet trained to denoise on a noise schedule, sampled with EMA weights; subclasses supply both."""

    config: DiffusionConfig

    def __init__(self, config: DiffusionConfig, data: DataSpec, device: torch.device) -> None:
        super().__init__(config, data, device)
        self.acceleration = config.acceleration(device)  # precision, layout and compilation on this device
        self.unet: Any = None  # the EMA weights after ``fit``: what samples, saves and warm-starts

    # --- what a subclass supplies ----------------------------------------------------------------

    @abstractmethod
    def _build_unet(self) -> Any:
        """A new diffusers UNet2DModel on the CPU, its weights drawn from torch's global RNG (or loaded)."""

    @abstractmethod
    def _training_scheduler(self) -> Any:
        """The forward (noising) process the model is trained for: a diffusers DDPMScheduler."""

    # --- hooks of a class-conditional variant (here: unconditional) ------------------------------

    def _training_labels(self, pool: ImageSet) -> torch.Tensor | None:
        """(N,) labels the UNet is conditioned on during training, or None."""
        return None

    def _dropped_labels(self, labels: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """A batch's training labels after label dropout (drawn from ``rng``)."""
        return labels

    def _sample_labels(self, n: int, seed: int, start: int = 0) -> torch.Tensor | None:
        """(n,) labels of samples start..start+n-1, or None for an unconditional model."""
        return None

    def _predict(self, unet: Any, noisy: torch.Tensor, timestep: torch.Tensor,
                 labels: torch.Tensor | None) -> torch.Tensor:
        """The UNet's prediction (noise or velocity) for a batch at one sampling timestep."""
        return unet(noisy, timestep).sample

    # --- model ---------------------------------------------------------------------------------

    def _new_unet(self, seed: int) -> Any:
        unet = seeded_module(self._build_unet, seed)
        return unet.to(self.device, memory_format=self.acceleration.memory_format)

    def _fitted_unet(self) -> Any:
        if self.unet is None:
            raise RuntimeError(f"the {self.config.name} generator must be fitted (or loaded) before use")
        return self.unet

    def pipeline_parts(self) -> tuple[Any, Any]:
        """The fitted UNet (the EMA weights: what samples) and the DDPMScheduler it was trained for."""
        return self._fitted_unet(), self._training_scheduler()

    def runtime_facts(self) -> dict:
        return self.acceleration.describe()

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self._fitted_unet().parameters())

    # --- training ------------------------------------------------------------------------------

    def fit(self, pool: ImageSet, *, seed: int, warm_start: Generator | None = None) -> FitReport:
        config = self.config
        what = f"{config.name} generator"
        check_pool(pool, self.data.resolution, what)

        # 1. Network: fresh from the seed (as Alemohammad et al. retrain), or the previous
        #    generation's EMA weights fine-tuned (as Bertrand et al. do).
        unet = self._new_unet(derive_seed(seed, "init"))
        epochs = config.epochs
        if warm_start is not None:
            previous = warm_start.unet if isinstance(warm_start, DiffusionGenerator) else None
            load_warm_start(unet, previous, what)
            epochs = config.warm_start_epochs or config.epochs

        # 2. The pool stays on the device as one float tensor: no DataLoader, no per-batch copies.
        images = pool.as_float().to(self.device).contiguous(memory_format=self.acceleration.memory_format)
        labels = self._training_labels(pool)
        labels = labels.to(self.device) if labels is not None else None
        scheduler = self._training_scheduler()
        optimizer = torch.optim.AdamW(unet.parameters(), lr=config.lr, weight_decay=0.0,
                                      fused=self.device.type in ("cpu", "cuda"))
        steps = optimizer_steps(len(pool), config.batch_size, epochs)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(config.warmup_steps, steps))

        def batch_loss(network: Any, batch: Batch) -> torch.Tensor:
            return self.training_loss(network, batch, scheduler, images, labels)

        # 3. Keep the averaged weights (train_epochs copies them in): they sample, they are saved,
        #    the next generation starts from them.
        report = train_epochs(unet, batch_loss, optimizer, schedule=schedule, pool_size=len(pool),
                              batch_size=config.batch_size, epochs=epochs, seed=seed, device=self.device,
                              name=config.name, ema_decay=config.ema_decay, compile=self.acceleration.compile)
        self.unet = unet.eval()
        return report

    def training_loss(self, network: Any, batch: Batch, scheduler: Any, images: torch.Tensor,
                      labels: torch.Tensor | None) -> torch.Tensor:
        """This process's part of the squared error of the prediction at uniformly drawn timesteps.

        ``images`` (N, 3, R, R) in [-1, 1] is the pool, ``labels`` (N,) its training labels
        or None. The whole batch's noise, timesteps and label dropout are drawn in every
        process and each process keeps its part's rows (see training.Batch), so that the
        parts' gradients average to that of the whole batch's mean.
        """
        size = batch.size
        noise = torch.randn((size, *images.shape[1:]), generator=batch.rng, device=self.device)
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (size,), generator=batch.rng,
                                  device=self.device)
        conditioning = {}
        if labels is not None:
            conditioning["class_labels"] = self._dropped_labels(labels[batch.rows], batch.rng)
        part = batch.part
        clean, noise, timesteps = images[batch.part_rows], noise[part], timesteps[part]
        conditioning = {key: value[part] for key, value in conditioning.items()}
        noisy = scheduler.add_noise(clean, noise, timesteps)
        noisy = noisy.contiguous(memory_format=self.acceleration.memory_format)
        targets: dict[str, Callable[[], torch.Tensor]] = {
            "epsilon": lambda: noise,
            "v_prediction": lambda: scheduler.get_velocity(clean, noise, timesteps),
            "sample": lambda: clean,
        }
        target = targets[scheduler.config.prediction_type]()
        with self.acceleration.autocast():
            prediction = network(noisy, timesteps, **conditioning).sample
        # The whole batch's element count from the pool's image size: a process's part may be empty.
        error = F.mse_loss(prediction.float(), target, reduction="sum")
        return error / batch.loss_denominator(images[0].numel())

    # --- sampling ------------------------------------------------------------------------------

    @property
    def sampling_chunk(self) -> int:
        return self.config.sample_batch_size

    def sample(self, n: int, *, seed: int) -> ImageSet:
        return self.sample_range(n, seed=seed, start=0, stop=n)

    @torch.no_grad()
    def sample_range(self, n: int, *, seed: int, start: int, stop: int) -> ImageSet:
        unet = self.acceleration.compiled(self._fitted_unet())
        size = (3, self.data.resolution, self.data.resolution)
        seeds = sample_seeds(seed, stop - start, start)
        labels = self._sample_labels(stop - start, seed, start)
        batch = self.config.sample_batch_size
        chunks = []
        steps = math.ceil(len(seeds) / batch) * self.config.sampling_steps  # UNet passes, for the progress bar
        bar = progress_bar(steps, f"{self.config.name} sampling", unit="step")
        for first in range(0, len(seeds), batch):
            chunk_seeds = seeds[first:first + batch]
            # Pad to exactly ``batch`` rows (extra rows: zero noise, label 0, dropped after): kernels
            # may pick another algorithm for another batch size, and image i must not depend on n.
            padding = batch - len(chunk_seeds)
            noise = torch.cat([per_sample_randn(size, chunk_seeds), torch.zeros(padding, *size)])
            step_rngs = [torch_generator(derive_seed(s, "steps")) for s in chunk_seeds]
            step_rngs += [torch_generator(0) for _ in range(padding)]
            chunk_labels = None
            if labels is not None:
                padded_labels = [labels[first:first + batch], torch.zeros(padding, dtype=torch.int64)]
                chunk_labels = torch.cat(padded_labels)
                chunk_labels = chunk_labels.to(self.device)
            images = self._denoise(unet, noise.to(self.device), chunk_labels, step_rngs, bar.update)
            chunks.append(to_uint8(images[: len(chunk_seeds)].float().clamp(-1, 1)).cpu())
        bar.close()
        images = torch.cat(chunks) if chunks else torch.empty(0, *size, dtype=torch.uint8)
        return ImageSet.create(images.contiguous(), labels)

    def _denoise(self, unet: Any, noise: torch.Tensor, labels: torch.Tensor | None,
                 step_rngs: list[torch.Generator], on_step: Callable[[], Any] = lambda: None) -> torch.Tensor:
        """Run the sampler from pure noise (B, 3, R, R) to images in about [-1, 1]; ``on_step()`` after each step."""
        build_sampler = SAMPLERS.get(self.config.sampler)
        sampler = build_sampler(self._training_scheduler().config, self.config.clip_sample)
        sampler.set_timesteps(self.config.sampling_steps)
        sample = noise.contiguous(memory_format=self.acceleration.memory_format)
        for timestep in sampler.timesteps:
            model_input = sampler.scale_model_input(sample, timestep)
            with self.acceleration.autocast():
                prediction = self._predict(unet, model_input, timestep.to(self.device), labels)
            # Per-sample generators: the ddpm sampler's fresh noise for row i comes from image i's seed.
            sample = sampler.step(prediction.float(), timestep, sample, generator=step_rngs).prev_sample
            on_step()
        return sample

    # --- state ---------------------------------------------------------------------------------

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {f"unet.{k}": v for k, v in self._fitted_unet().state_dict().items()}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        unet = self._new_unet(0)
        weights = {k.removeprefix("unet."): v for k, v in tensors.items() if k.startswith("unet.")}
        unet.load_state_dict(weights)
        self.unet = unet.eval()
