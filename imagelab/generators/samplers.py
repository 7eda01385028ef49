"""Sampling schedulers for the diffusion generators, by name.

Training always uses diffusers' ``DDPMScheduler`` (it defines the noise schedule);
sampling may use any scheduler that reads the same schedule from its config. Each
entry builds a fresh scheduler from the training scheduler's config, so a saved
model needs no scheduler state of its own:

- ``ddpm``: ancestral sampling (Ho et al. 2020), stochastic; it needs about as many
  steps as the model was trained with (1000) to be at its best.
- ``ddim``: deterministic DDIM (Song et al. 2021, eta = 0); good from ~50 steps.
- ``dpmsolver++``: multistep DPM-Solver++ of order 2 (Lu et al. 2022), deterministic;
  good from ~10-20 steps.

diffusers is imported inside the builders: importing it takes seconds, and only a
run that samples a diffusion model needs it.
"""

from __future__ import annotations

from typing import Any, Callable

from imagelab.registry import Registry

# name -> builder(training scheduler config, clip) -> a diffusers scheduler. ``clip`` clamps each step's
# predicted clean image to [-1, 1], the pixel range: at the noisiest timesteps of a cosine schedule an
# epsilon-predicting model's x0 = (x - sqrt(1 - a) eps) / sqrt(a) divides by sqrt(a) ~ 0 and explodes.
SAMPLERS: Registry[Callable[[Any, bool], Any]] = Registry("sampler")


@SAMPLERS.register("ddpm")
def ddpm_sampler(training_config: Any, clip: bool) -> Any:
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config(training_config, clip_sample=clip, clip_sample_range=1.0)


@SAMPLERS.register("ddim")
def ddim_sampler(training_config: Any, clip: bool) -> Any:
    from diffusers import DDIMScheduler

    # "trailing" spacing starts at the last training timestep, so few-step sampling starts from pure noise.
    return DDIMScheduler.from_config(training_config, clip_sample=clip, clip_sample_range=1.0,
                                     timestep_spacing="trailing")


@SAMPLERS.register("dpmsolver++")
def dpm_solver_sampler(training_config: Any, clip: bool) -> Any:
    from diffusers import DPMSolverMultistepScheduler

    # Dynamic thresholding with a maximum of 1.0 is a plain clamp of the data prediction to [-1, 1].
    return DPMSolverMultistepScheduler.from_config(training_config, algorithm_type="dpmsolver++",
                                                   solver_order=2, thresholding=clip, sample_max_value=1.0)


def sampler_names() -> tuple[str, ...]:
    return tuple(SAMPLERS.names())
