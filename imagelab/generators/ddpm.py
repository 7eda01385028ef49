"""A denoising diffusion model on diffusers: ``UNet2DModel`` + ``DDPMScheduler``.

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

On CUDA the fit keeps the whole pool on the device, runs the UNet in channels_last
under bf16 autocast, and compiles it with ``torch.compile`` when ``compile: true``;
on a CPU all of these are off.

diffusers is imported only when a model is built: importing it takes seconds, and a
run with another generator never needs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from imagelab.runtime import distributed
from imagelab.data.imageset import ImageSet, to_uint8
from imagelab.errors import ConfigError
from imagelab.generators.base import GENERATORS, DataSpec, FitReport, Generator, GeneratorConfig
from imagelab.runtime.finite import check_finite
from imagelab.generators.samplers import SAMPLERS, sampler_names
from imagelab.seeding import derive_seed, per_sample_randn, sample_seeds, torch_generator

PREDICTIONS = ("epsilon", "v_prediction")
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")


def _check_fields(config: GeneratorConfig) -> None:
    """Bounds and choices from field metadata; the config parser checks YAML input, this direct construction."""
    for spec in fields(config):
        value, low, high = getattr(config, spec.name), spec.metadata.get("min"), spec.metadata.get("max")
        choices = spec.metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"generator.{spec.name}", f"must be one of {', '.join(choices)}; got {value!r}")
        if value is not None and ((low is not None and value < low) or (high is not None and value > high)):
            raise ConfigError(f"generator.{spec.name}", f"must be between {low} and {high}, got {value!r}")


@dataclass
class DiffusionConfig(GeneratorConfig):
    """Training and sampling settings shared by the diffusion generators."""

    epochs: int = field(default=20, metadata={"min": 1})
    warm_start_epochs: int | None = field(default=None, metadata={"min": 1})  # epochs when warm-started; None = epochs
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
    compile: bool = False  # torch.compile the UNet for training and sampling (CUDA only; ignored on a CPU)

    def __post_init__(self) -> None:
        _check_fields(self)
        if self.lr <= 0:
            raise ConfigError("generator.lr", f"must be > 0, got {self.lr!r}")


@dataclass
class DDPMConfig(DiffusionConfig):
    """Settings of the ``ddpm`` generator; the defaults are a CPU size (16-32 px, ~1 M parameters)."""

    name: str = "ddpm"
    # UNet: level i has base_channels * channel_mult[i] channels; len(channel_mult) - 1 downsamplings.
    base_channels: int = field(default=32, metadata={"min": 4})  # a multiple of 4 (group norm uses base/4 groups)
    channel_mult: list[int] = field(default_factory=lambda: [1, 2, 2])
    layers_per_block: int = field(default=1, metadata={"min": 1})
    attention: bool = False  # self-attention at the lowest resolution and in the middle block
    prediction: str = field(default="epsilon", metadata={"choices": PREDICTIONS})
    beta_schedule: str = field(default="squaredcos_cap_v2", metadata={"choices": BETA_SCHEDULES})
    train_timesteps: int = field(default=1000, metadata={"min": 2})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.base_channels % 4:
            raise ConfigError("generator.base_channels", f"must be a multiple of 4, got {self.base_channels}")
        if not self.channel_mult or any(m < 1 for m in self.channel_mult):
            raise ConfigError("generator.channel_mult", f"must list one multiplier >= 1 per level, got {self.channel_mult}")
        if self.sampler == "ddpm" and self.sampling_steps > self.train_timesteps:
            raise ConfigError("generator.sampling_steps", f"the ddpm sampler takes at most train_timesteps "
                                                          f"({self.train_timesteps}) steps, got {self.sampling_steps}")


def build_unet(config: DDPMConfig, resolution: int, num_class_embeds: int | None = None) -> Any:
    """A diffusers ``UNet2DModel`` for (B, 3, resolution, resolution) images in [-1, 1]."""
    from diffusers import UNet2DModel

    _check_levels(config.channel_mult, resolution)
    levels = len(config.channel_mult)
    down = ["DownBlock2D"] * levels
    up = ["UpBlock2D"] * levels
    if config.attention:
        down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
    return UNet2DModel(
        sample_size=resolution,
        block_out_channels=tuple(config.base_channels * m for m in config.channel_mult),
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        layers_per_block=config.layers_per_block,
        norm_num_groups=config.base_channels // 4,
        add_attention=config.attention,
        num_class_embeds=num_class_embeds,
    )


def _check_levels(channel_mult: list[int], resolution: int) -> None:
    levels = len(channel_mult)
    if resolution % 2 ** (levels - 1):
        raise ConfigError("generator.channel_mult", f"{levels} levels halve the image {levels - 1} times; "
                                                    f"{resolution} px is not divisible by {2 ** (levels - 1)}")


def build_training_scheduler(config: DDPMConfig) -> Any:
    """The forward (noising) process; sampling schedulers are built from its config."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=config.train_timesteps, beta_schedule=config.beta_schedule,
                         prediction_type=config.prediction, clip_sample=False)


@GENERATORS.register("ddpm")
class DDPM(Generator):
    """Denoising diffusion model (diffusers UNet2DModel + DDPMScheduler, EMA weights, DPM-Solver++/DDIM/DDPM sampling)."""

    Config = DDPMConfig
    config: DDPMConfig

    def __init__(self, config: DDPMConfig, data: DataSpec, device: torch.device) -> None:
        super().__init__(config, data, device)
        _check_levels(config.channel_mult, data.resolution)  # refuse now, not after data loading
        self.unet: Any = None  # the EMA weights after ``fit``: what samples, saves and warm-starts

    # --- hooks of the class-conditional variant ------------------------------------------------

    def _num_class_embeds(self) -> int | None:
        return None

    def _training_labels(self, pool: ImageSet) -> torch.Tensor | None:
        """(N,) labels the UNet is conditioned on during training, or None."""
        return None

    def _sample_labels(self, n: int, seed: int, start: int = 0) -> torch.Tensor | None:
        """(n,) labels of samples start..start+n-1, or None for an unconditional model."""
        return None

    def _predict(self, unet: Any, noisy: torch.Tensor, timestep: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """The UNet's prediction (noise or velocity) for a batch at one sampling timestep."""
        return unet(noisy, timestep).sample

    # --- model ---------------------------------------------------------------------------------

    def _build_unet(self) -> Any:
        """A new UNet on the CPU, its weights drawn from torch's global RNG."""
        return build_unet(self.config, self.data.resolution, self._num_class_embeds())

    def _training_scheduler(self) -> Any:
        """The forward (noising) process the model is trained for."""
        return build_training_scheduler(self.config)

    @property
    def _memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.device.type == "cuda" else torch.contiguous_format

    def _new_unet(self, seed: int) -> Any:
        # Initial weights from ``seed`` without disturbing the caller's global RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            unet = self._build_unet()
        return unet.to(self.device, memory_format=self._memory_format)

    def _compiled(self, unet: Any) -> Any:
        return torch.compile(unet) if self.config.compile and self.device.type == "cuda" else unet

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self._fitted_unet().parameters())

    # --- training ------------------------------------------------------------------------------

    def fit(self, pool: ImageSet, *, seed: int, warm_start: Generator | None = None) -> FitReport:
        from diffusers.training_utils import EMAModel

        config = self.config
        if len(pool) == 0:
            raise ValueError(f"the {config.name} generator cannot fit an empty pool")
        if pool.resolution != self.data.resolution:
            raise ValueError(f"pool resolution {pool.resolution} differs from the generator's {self.data.resolution}")

        # 1. Network: fresh from the seed (as Alemohammad et al. retrain), or the previous
        #    generation's EMA weights fine-tuned (as Bertrand et al. do).
        unet = self._new_unet(derive_seed(seed, "init"))
        epochs = config.epochs
        if warm_start is not None:
            if not isinstance(warm_start, DDPM) or warm_start.unet is None:
                raise ValueError(f"warm_start must be a fitted {config.name} generator")
            try:
                unet.load_state_dict(warm_start.unet.state_dict())
            except RuntimeError as error:
                raise ValueError(f"warm_start model has another architecture: {error}") from None
            epochs = config.warm_start_epochs or config.epochs

        # 2. The pool stays on the device as one float tensor: no DataLoader, no per-batch copies.
        images = pool.as_float().to(self.device).contiguous(memory_format=self._memory_format)
        labels = self._training_labels(pool)
        labels = labels.to(self.device) if labels is not None else None
        scheduler = self._training_scheduler()
        ema = EMAModel(unet.parameters(), decay=config.ema_decay, use_ema_warmup=True, foreach=True)
        optimizer = torch.optim.AdamW(unet.parameters(), lr=config.lr, weight_decay=0.0,
                                      fused=self.device.type in ("cpu", "cuda"))
        steps = epochs * math.ceil(len(pool) / config.batch_size)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(config.warmup_steps, steps))
        order_rng = torch_generator(derive_seed(seed, "order"))
        noise_rng = torch.Generator(device=self.device).manual_seed(derive_seed(seed, "noise"))

        # Launched as several processes, each trains on its part of every batch (distributed.py).
        processes = distributed.current()
        model = self._compiled(processes.data_parallel(unet))

        report = FitReport()
        unet.train()
        for epoch in tqdm(range(epochs), desc=f"{config.name} fit", unit="epoch", leave=False):
            order = torch.randperm(len(pool), generator=order_rng).to(self.device)
            epoch_loss = torch.zeros((), device=self.device)
            for batch_index in order.split(config.batch_size):
                loss = self._training_loss(model, scheduler, images, labels, batch_index, noise_rng, processes)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                ema.step(unet.parameters())
                epoch_loss += loss.detach() * len(batch_index)
            epoch_loss = processes.sum(epoch_loss) / processes.count  # the whole pool's loss, in every process
            report.losses.append(check_finite(epoch_loss / len(pool), f"{config.name} epoch {epoch + 1}/{epochs}"))

        # 3. Keep the averaged weights: they sample, they are saved, the next generation starts from them.
        ema.copy_to(unet.parameters())
        self.unet = unet.eval()
        return report

    def _training_loss(self, model: Any, scheduler: Any, images: torch.Tensor, labels: torch.Tensor | None,
                       batch_index: torch.Tensor, rng: torch.Generator, processes: distributed.Processes) -> torch.Tensor:
        """Mean squared error of the prediction at uniformly drawn timesteps, for the batch ``images[batch_index]``.

        ``images`` (N, 3, R, R) in [-1, 1]. The whole batch's noise, timesteps and label
        dropout are drawn in every process and each process keeps its part's rows, so a
        part sees what it would see in one process; its loss is the part's summed error
        over the whole batch's size divided by the number of processes, so the gradient
        DistributedDataParallel averages is that of the whole batch's mean.
        """
        size = len(batch_index)
        noise = torch.randn((size, *images.shape[1:]), generator=rng, device=self.device)
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (size,), generator=rng, device=self.device)
        conditioning = {}
        if labels is not None:
            conditioning["class_labels"] = self._dropped_labels(labels[batch_index], rng)
        part = processes.batch_part(size)
        batch, noise, timesteps = images[batch_index[part]], noise[part], timesteps[part]
        conditioning = {key: value[part] for key, value in conditioning.items()}
        noisy = scheduler.add_noise(batch, noise, timesteps).contiguous(memory_format=self._memory_format)
        targets = {"epsilon": lambda: noise, "v_prediction": lambda: scheduler.get_velocity(batch, noise, timesteps),
                   "sample": lambda: batch}
        target = targets[scheduler.config.prediction_type]()
        with self._autocast():
            prediction = model(noisy, timesteps, **conditioning).sample
        # The whole batch's element count from the pool's image size: a process's part may be empty.
        return F.mse_loss(prediction.float(), target, reduction="sum") / (images[0].numel() * size / processes.count)

    def _dropped_labels(self, labels: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return labels

    # --- sampling ------------------------------------------------------------------------------

    @property
    def sampling_chunk(self) -> int:
        return self.config.sample_batch_size

    def sample(self, n: int, *, seed: int) -> ImageSet:
        return self.sample_range(n, seed=seed, start=0, stop=n)

    @torch.no_grad()
    def sample_range(self, n: int, *, seed: int, start: int, stop: int) -> ImageSet:
        unet = self._compiled(self._fitted_unet())
        size = (3, self.data.resolution, self.data.resolution)
        seeds = sample_seeds(seed, stop - start, start)
        labels = self._sample_labels(stop - start, seed, start)
        batch = self.config.sample_batch_size
        chunks = []
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
                chunk_labels = torch.cat([labels[first:first + batch], torch.zeros(padding, dtype=torch.int64)])
                chunk_labels = chunk_labels.to(self.device)
            images = self._denoise(unet, noise.to(self.device), chunk_labels, step_rngs)
            chunks.append(to_uint8(images[: len(chunk_seeds)].float().clamp(-1, 1)).cpu())
        images = torch.cat(chunks) if chunks else torch.empty(0, *size, dtype=torch.uint8)
        return ImageSet.create(images.contiguous(), labels)

    def _denoise(self, unet: Any, noise: torch.Tensor, labels: torch.Tensor | None,
                 step_rngs: list[torch.Generator]) -> torch.Tensor:
        """Run the sampler from pure noise (B, 3, R, R) to images in about [-1, 1]."""
        sampler = SAMPLERS.get(self.config.sampler)(self._training_scheduler().config, self.config.clip_sample)
        sampler.set_timesteps(self.config.sampling_steps)
        sample = noise.contiguous(memory_format=self._memory_format)
        for timestep in sampler.timesteps:
            model_input = sampler.scale_model_input(sample, timestep)
            with self._autocast():
                prediction = self._predict(unet, model_input, timestep.to(self.device), labels)
            # Per-sample generators: the ddpm sampler's fresh noise for row i comes from image i's seed.
            sample = sampler.step(prediction.float(), timestep, sample, generator=step_rngs).prev_sample
        return sample

    def _fitted_unet(self) -> Any:
        if self.unet is None:
            raise RuntimeError(f"the {self.config.name} generator must be fitted (or loaded) before use")
        return self.unet

    # --- state ---------------------------------------------------------------------------------

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {f"unet.{k}": v for k, v in self._fitted_unet().state_dict().items()}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        unet = self._new_unet(0)
        unet.load_state_dict({k.removeprefix("unet."): v for k, v in tensors.items() if k.startswith("unet.")})
        self.unet = unet.eval()


def _warmup_cosine(warmup_steps: int, total_steps: int):
    """LR multiplier per step: linear from 0 to 1 over ``warmup_steps``, then cosine to 0 at ``total_steps``."""

    def multiplier(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return multiplier
