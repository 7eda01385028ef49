"""The class-conditional ``ddpm`` with classifier-free guidance (Ho & Salimans 2022).

The UNet gets a class embedding with one row per breed plus a "no label" row
(index ``num_classes``). During training each label is replaced by "no label" with
probability ``label_dropout``, so one network learns both the conditional and the
unconditional model; pool images without a label (``UNLABELED``) always train the
unconditional one.

Sampling first draws each image's breed, in proportion to the breeds of the pool
the model was trained on (per-sample seeds, like the noise), then denoises with the
guided prediction

    eps = (1 + w) * eps(x, breed) - w * eps(x, no label)        w = ``guidance_weight``

(the same for a velocity prediction). w = 0 is the plain conditional model; w > 0
trades diversity for fidelity to the breed. It takes no ``sampling_bias``: a lower
initial-noise temperature, the mechanism tried, did not bias it (sampling_bias.py). The samples
carry the breeds they were drawn for as labels, so in the loop the next pool is
labelled with what was asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from imagelab.data.imageset import UNLABELED, ImageSet
from imagelab.errors import DataError
from imagelab.generators.base import GENERATORS, DataSpec
from imagelab.generators.ddpm import DDPM, DDPMConfig
from imagelab.seeding import derive_seed, per_sample_randn, sample_seeds


@dataclass
class DDPMCondConfig(DDPMConfig):
    """Settings of the ``ddpm-cond`` generator: those of ``ddpm`` plus label dropout and guidance."""

    name: str = "ddpm-cond"
    # P(label -> "no label") in training.
    label_dropout: float = field(default=0.1, metadata={"min": 0.0, "max": 1.0})
    # w of classifier-free guidance.
    guidance_weight: float = field(default=0.0, metadata={"min": 0.0, "max": 100.0})


def breeds_to_draw(label_counts: torch.Tensor, n: int, *, seed: int, start: int = 0) -> torch.Tensor:
    """(n,) breeds of samples start..start+n-1, in proportion to ``label_counts`` (num_classes,).

    Breed i depends only on (seed, i): a uniform number per sample, from the normal CDF
    of that sample's own normal draw.
    """
    normal = per_sample_randn((1,), sample_seeds(derive_seed(seed, "labels"), n, start))[:, 0]
    uniform = torch.special.ndtr(normal.double())
    cumulative = torch.cumsum(label_counts.double(), 0)
    breeds = torch.searchsorted(cumulative / cumulative[-1], uniform, right=True)
    return breeds.clamp_(max=len(cumulative) - 1)


@GENERATORS.register("ddpm-cond")
class DDPMCond(DDPM):
    """Class-conditional ddpm with label dropout and classifier-free guidance (weight w, lambda = 1/(1+w))."""

    Config = DDPMCondConfig
    config: DDPMCondConfig

    def __init__(self, config: DDPMCondConfig, data: DataSpec, device: torch.device) -> None:
        super().__init__(config, data, device)
        self.label_counts: torch.Tensor | None = None  # (num_classes,) breeds of the training pool

    @property
    def null_label(self) -> int:
        return self.data.num_classes

    def _num_class_embeds(self) -> int:
        return self.data.num_classes + 1

    def _training_labels(self, pool: ImageSet) -> torch.Tensor:
        if bool((pool.labels >= self.data.num_classes).any()):
            raise DataError(f"pool labels go up to {int(pool.labels.max())}, but the data has "
                            f"{self.data.num_classes} breeds")
        counts = pool.label_counts(self.data.num_classes)
        if int(counts.sum()) == 0:
            raise DataError("the ddpm-cond generator needs a labelled pool; every image is UNLABELED "
                            "(use generator.name=ddpm for unlabelled data)")
        self.label_counts = counts.double()
        return torch.where(pool.labels == UNLABELED, self.null_label, pool.labels)

    def _dropped_labels(self, labels: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        drop = torch.rand(labels.shape, generator=rng, device=labels.device) < self.config.label_dropout
        return torch.where(drop, self.null_label, labels)

    def _sample_labels(self, n: int, seed: int, start: int = 0) -> torch.Tensor:
        """(n,) breeds of samples start..start+n-1, in proportion to the training pool's.

        Label i depends only on (seed, i).
        """
        if self.label_counts is None:
            raise RuntimeError("the ddpm-cond generator must be fitted (or loaded) before sampling")
        return breeds_to_draw(self.label_counts, n, seed=seed, start=start)

    def _predict(self, unet: Any, noisy: torch.Tensor, timestep: torch.Tensor,
                 labels: torch.Tensor | None) -> torch.Tensor:
        weight = self.config.guidance_weight
        if weight == 0:
            return unet(noisy, timestep, class_labels=labels).sample
        # One pass over [conditional; unconditional] rows: (2B, 3, R, R).
        null = torch.full_like(labels, self.null_label)
        both = unet(torch.cat([noisy, noisy]), timestep, class_labels=torch.cat([labels, null])).sample
        conditional, unconditional = both.float().chunk(2)
        return conditional + weight * (conditional - unconditional)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        if self.label_counts is None:
            raise RuntimeError("the ddpm-cond generator has nothing to save before it is fitted")
        return super().state_tensors() | {"label_counts": self.label_counts}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        super().load_state_tensors(tensors)
        self.label_counts = tensors["label_counts"].double().cpu()
