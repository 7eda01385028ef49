"""The training skeleton every torch generator shares: epochs of shuffled batches split over processes.

A generator supplies its network, its optimiser (and learning-rate schedule) and a
loss for one batch; ``train_epochs`` does the rest, the same way for the vae, the
diffusion generators and any plugin:

- each epoch visits the pool in a fresh order drawn from the fit's seed;
- launched as several processes (``accelerate launch``, see runtime/distributed.py),
  the network is wrapped in DistributedDataParallel and each global batch is cut into
  one contiguous part per process. Every process draws the random numbers of the
  *whole* batch (``Batch.rng``) and keeps its part's rows, so a part sees what it
  would see in one process, and a part's summed loss is divided by
  ``Batch.loss_denominator`` so that the gradient DDP averages is the gradient of the
  whole batch's mean;
- the optimiser steps, the schedule steps, and an exponential moving average of the
  weights is updated when asked (diffusers' ``EMAModel`` with its warm-up) and copied
  into the network at the end;
- each epoch's loss (the whole pool's mean, the same in every process) is checked to
  be finite and goes into the ``FitReport``; a progress bar counts the epochs.

A plugin's ``fit`` uses it like this (``images`` (N, C, H, W) on the device; the loss
is summed over the part's elements, then divided by the whole batch's share)::

    model = seeded_module(lambda: MyNet(), derive_seed(seed, "init")).to(self.device)
    images = pool.as_float().to(self.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def batch_loss(network, batch):
        noise = torch.randn(batch.size, 16, generator=batch.rng, device=self.device)  # the whole batch's
        error = network(images[batch.part_rows], noise[batch.part]) - images[batch.part_rows]
        return error.square().sum() / batch.loss_denominator(images[0].numel())

    report = train_epochs(model, batch_loss, optimizer, pool_size=len(pool), batch_size=32, epochs=5,
                          seed=seed, device=self.device, name="mine")
    model.eval()
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from imagelab.data.imageset import ImageSet
from imagelab.errors import DivergedLossError
from imagelab.generators.base import FitReport
from imagelab.runtime import distributed
from imagelab.runtime.finite import check_finite
from imagelab.runtime.progress import progress_bar
from imagelab.seeding import derive_seed, torch_generator


@dataclass(frozen=True)
class Batch:
    """One optimiser step's batch, as this process sees it."""

    rows: torch.Tensor  # (B,) pool indices of the whole batch, the same in every process
    part: slice  # this process's rows of the batch (contiguous; empty when B < number of processes)
    processes: int  # how many processes share the batch
    rng: torch.Generator  # draw the whole batch's noise from it in every process, then keep ``[part]``

    @classmethod
    def split(cls, rows: torch.Tensor, processes: distributed.Processes, rng: torch.Generator) -> Batch:
        """The batch ``rows`` cut between ``processes``: this process keeps its part."""
        return cls(rows, processes.batch_part(len(rows)), processes.count, rng)

    @property
    def size(self) -> int:
        """Rows of the whole batch (all processes together)."""
        return len(self.rows)

    @property
    def part_rows(self) -> torch.Tensor:
        """(b,) pool indices of this process's part."""
        return self.rows[self.part]

    def loss_denominator(self, elements_per_row: int) -> float:
        """The whole batch's element count over the number of processes.

        A part's loss summed over its elements and divided by this is, averaged over the
        processes (as DistributedDataParallel averages gradients), the whole batch's mean.
        Computed from the batch's size, not the part's: a part may be empty.
        """
        return self.size * elements_per_row / self.processes


# The loss of one batch: (the network as trained, possibly wrapped in DDP or compiled, the batch) -> scalar.
BatchLoss = Callable[[nn.Module, Batch], torch.Tensor]


# A last epoch at least this many times the loss of the first step is a fit that blew up (check_not_diverged).
DIVERGENCE_FACTOR = 1_000


def optimizer_steps(pool_size: int, batch_size: int, epochs: int) -> int:
    """Optimiser steps of ``train_epochs`` (the last batch of an epoch may be short): for LR schedules."""
    return epochs * math.ceil(pool_size / batch_size)


def warmup_cosine(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """A ``LambdaLR`` multiplier: linear from 0 to 1 over ``warmup_steps``, then cosine to 0 at ``total_steps``."""

    def multiplier(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return multiplier


def train_epochs(model: nn.Module, batch_loss: BatchLoss, optimizer: torch.optim.Optimizer, *, pool_size: int,
                 batch_size: int, epochs: int, seed: int, device: torch.device, name: str,
                 schedule: torch.optim.lr_scheduler.LRScheduler | None = None, ema_decay: float | None = None,
                 compile: bool = False) -> FitReport:
    """Train ``model`` for ``epochs`` passes over a pool of ``pool_size`` images; the loss per epoch.

    ``seed`` draws the batch order and seeds ``Batch.rng`` (on ``device``). ``ema_decay``
    (diffusers' EMAModel with warm-up; 0 keeps the raw weights) leaves the averaged
    weights in ``model``; ``compile`` runs the network under ``torch.compile`` (on any device:
    resolve ``auto`` first, see acceleration.py).
    ``name`` labels the progress bar and the error of a non-finite loss. ``model`` is
    left in train mode.
    """
    ema = _moving_average(model, ema_decay) if ema_decay is not None else None
    order_rng = torch_generator(derive_seed(seed, "order"))
    noise_rng = torch.Generator(device=device).manual_seed(derive_seed(seed, "noise"))
    processes = distributed.current()
    network = processes.data_parallel(model)
    network = torch.compile(network) if compile else network  # ``model`` stays unwrapped: its weights are saved

    report = FitReport()
    first_step_loss: float | None = None
    model.train()
    for epoch in progress_bar(range(epochs), f"{name} fit", unit="epoch"):
        order = torch.randperm(pool_size, generator=order_rng).to(device)
        epoch_loss = torch.zeros((), device=device)
        for rows in order.split(batch_size):
            loss = batch_loss(network, Batch.split(rows, processes, noise_rng))
            if first_step_loss is None:  # the whole batch's, as every process sees it
                first_step_loss = float(processes.sum(loss.detach()) / processes.count)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()
            if ema is not None:
                ema.step(model.parameters())
            epoch_loss += loss.detach() * len(rows)
        epoch_loss = processes.sum(epoch_loss) / processes.count  # the whole pool's loss, in every process
        report.losses.append(check_finite(epoch_loss / pool_size, f"{name} epoch {epoch + 1}/{epochs}"))
    check_not_diverged(report.losses, first_step_loss, name)

    if ema is not None:  # the averaged weights are what samples, is saved and warm-starts the next generation
        ema.copy_to(model.parameters())
    return report


def check_not_diverged(epoch_losses: list[float], first_step_loss: float | None, name: str) -> None:
    """Raise DivergedLossError when the last epoch's loss is DIVERGENCE_FACTOR times the first step's or more.

    A fit can blow up and stay finite: a warm-started vae ended at 3.8e23 per pixel against
    0.0018 at its first step, and sampled noise. A fit that learns ends below its first step
    (a warm start near it), so the factor only catches a blow-up. Losses that are not
    positive at the first step (a log-likelihood, say) are not compared.
    """
    if not epoch_losses or first_step_loss is None or not first_step_loss > 0:
        return
    if epoch_losses[-1] >= DIVERGENCE_FACTOR * first_step_loss:
        raise DivergedLossError(f"{name} fit diverged: the loss of its last epoch ({epoch_losses[-1]:.3g}) is "
                                f"{epoch_losses[-1] / first_step_loss:.3g} times its first step's "
                                f"({first_step_loss:.3g}); lower the learning rate or check the data")


def _moving_average(model: nn.Module, decay: float) -> Any:
    # diffusers is imported only when a diffusion-style fit asks for an average: importing it takes seconds.
    from diffusers.training_utils import EMAModel

    # The warm-up ramps the decay as 1 - (1 + step)^(-2/3) up to ``decay``, so that short CPU fits
    # average over a sensible window.
    return EMAModel(model.parameters(), decay=decay, use_ema_warmup=True, foreach=True)


# --- what every torch generator's fit needs around the loop ------------------------------------


def check_pool(pool: ImageSet, resolution: int, what: str) -> None:
    """Refuse an empty pool or one of another resolution; ``what`` names the generator in the message."""
    if len(pool) == 0:
        raise ValueError(f"the {what} cannot fit an empty pool")
    if pool.resolution != resolution:
        raise ValueError(f"pool resolution {pool.resolution} differs from the {what}'s {resolution}")


def seeded_module(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    """``build()`` with its initial weights drawn from ``seed``, leaving the caller's global RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def load_warm_start(model: nn.Module, previous: nn.Module | None, what: str) -> None:
    """Start ``model`` from the weights of ``previous`` (None: the warm start is not a fitted ``what``)."""
    if previous is None:
        raise ValueError(f"warm_start must be a fitted {what}")
    try:
        model.load_state_dict(previous.state_dict())
    except RuntimeError as error:
        raise ValueError(f"warm_start {what} has another architecture: {error}") from None
