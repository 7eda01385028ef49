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

# name -> builder(training scheduler config) -> a diffusers scheduler
SAMPLERS: Registry[Callable[[Any], Any]] = Registry("sampler")


@SAMPLERS.register("ddpm")
def ddpm_sampler(training_config: Any) -> Any:
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config(training_config)


@SAMPLERS.register("ddim")
def ddim_sampler(training_config: Any) -> Any:
    from diffusers import DDIMScheduler

    # clip_sample=False: the model's own prediction decides; clipping x0 hides a bad model.
    return DDIMScheduler.from_config(training_config, clip_sample=False, timestep_spacing="trailing")


@SAMPLERS.register("dpmsolver++")
def dpm_solver_sampler(training_config: Any) -> Any:
    from diffusers import DPMSolverMultistepScheduler

    return DPMSolverMultistepScheduler.from_config(training_config, algorithm_type="dpmsolver++", solver_order=2)


def sampler_names() -> tuple[str, ...]:
    return tuple(SAMPLERS.names())
