"""The ``judge`` section of the run config: which timm model, and how it is trained."""

from __future__ import annotations

from dataclasses import dataclass

from imagelab.config_fields import bounded, local_path
from imagelab.errors import ConfigError


@dataclass
class JudgeConfig:
    """The ``judge`` section of the run config."""

    # Any timm model name. test_resnet (0.37 M parameters, 96 features) reaches 99.5-99.95% held-out
    # accuracy on the toy dogs at 32 px in ~13 s of one CPU core; the other tiny timm models tried
    # (test_byobnet, test_efficientnet, test_convnext, test_vit) reached 73-98% in similar time.
    model: str = "test_resnet"
    epochs: int = bounded(6, ge=1)
    # At least this many optimiser steps: a small split gets more epochs, epochs = max(epochs,
    # ceil(min_steps / batches per epoch)). Sized from the toy dogs' 3,000 images (23 batches of 128 a
    # epoch, 138 steps in 6 epochs), so the default lab trains as before, and a photo split of a few
    # dozen images per breed is no longer stopped after a dozen steps. 0: epochs alone decide.
    min_steps: int = bounded(120, ge=0)
    batch_size: int = bounded(128, ge=2)  # real images per batch
    lr: float = bounded(6e-3, ge=0.0)  # peak of the one-cycle schedule (AdamW)
    weight_decay: float = bounded(5e-4, ge=0.0)
    drop_rate: float = bounded(0.0, ge=0.0, le=1.0)  # dropout before the classifier
    augment: bool = True  # mild blur, noise, colour shift, flips and shifts on every training image
    # Where "soft but fine" ends and "degenerate" begins, as Gaussian blur sigma in pixels at 32 px:
    # real images are blurred up to real_blur_max (and must stay recognized), degenerate training
    # images from outlier_blur_min to 3x that (and must not be).
    real_blur_max: float = bounded(1.0, ge=0.0)
    outlier_blur_min: float = bounded(2.0, ge=0.0)
    # Below this maximum softmax probability a prediction counts as unrecognized. None: derived from the
    # real held-out images, as the confidence that only real_reject_rate of them fall below, and at
    # least MAJORITY (the named breed more likely than all others together).
    confidence_threshold: float | None = bounded(None, ge=0.0, le=1.0)
    real_reject_rate: float = bounded(0.005, ge=0.0, le=0.5)
    outlier_exposure: bool = True
    outlier_fraction: float = bounded(0.5, ge=0.0)  # degenerate images per real image in a batch
    outlier_weight: float = bounded(0.5, ge=0.0)  # weight of the cross-entropy to uniform
    # Pixel blends of two real images of different breeds, per real image in a batch (0 = none). With
    # blend_target "mixup" the target is the blend's breed mixture (Zhang et al. 2018), with "uniform"
    # it is no breed at all: either way a half-and-half dog stops counting as one breed.
    blend_fraction: float = bounded(0.25, ge=0.0)
    blend_target: str = bounded("mixup", choices=("mixup", "uniform"))
    # A local weights file of the same timm model to start from (all but the classifier); None: from scratch.
    # Never fetched from a model hub; see imagelab/judge/pretrained.py for how to make one.
    pretrained: str | None = local_path()
    # The seed of the judge's initialisation and training. None: the fixed JUDGE_SEED (judge/cache.py), so
    # every run on the same data shares one judge; `imagelab run --seeds ... --vary all` sets it per run.
    seed: int | None = bounded(None, ge=0)

    def __post_init__(self) -> None:
        if self.outlier_blur_min <= self.real_blur_max:
            raise ConfigError("judge.outlier_blur_min", f"must be larger than judge.real_blur_max "
                              f"({self.real_blur_max}), got {self.outlier_blur_min}")
