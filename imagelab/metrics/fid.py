"""FID with torchmetrics doing the statistics (float64), on the judge's features or on Inception's.

``eval.fid_features=judge`` (the default): the judge's penultimate features are
computed once per image (the same forward pass also counts breeds), so the feature
extractor handed to torchmetrics is a pass-through and ``update`` receives features,
not images.

``eval.fid_features=inception``: torchmetrics' own Inception-v3 FID (2048 pool
features, images resized to 299 px), the number papers report. Its weights come
from torch-fidelity's file ``pt_inception-2015-12-05-6726825d.pth``, which is never
downloaded: it is read from ``eval.inception_weights`` (default
``$IMAGELAB_CACHE/pt_inception-2015-12-05-6726825d.pth``), and a missing file or a
missing torch-fidelity stops the run before it starts, naming what to put where.

Either way the real side is fed once and kept (``reset_real_features=False``); each
generation resets the fake side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from imagelab.errors import ConfigError
from imagelab.metrics.metric import (
    METRICS,
    Column,
    GenerationInputs,
    Metric,
    MetricConfig,
    MetricContext,
)
from imagelab.registry import Registry
from imagelab.runtime.cache import cache_root
from imagelab.runtime.progress import PROGRESS_DELAY_S, progress_bar

INCEPTION_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                         + INCEPTION_WEIGHTS_FILE)
IMAGE_BATCH = 64  # images per Inception forward pass (299 px each)


class _PrecomputedFeatures(nn.Module):
    """Stands where torchmetrics expects a feature network: features in, features out."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


class FeatureFID:
    """FID between fixed reference features and each generation's features (N, D)."""

    def __init__(self, reference_features: torch.Tensor) -> None:
        self.metric = FrechetInceptionDistance(
            feature=_PrecomputedFeatures(reference_features.shape[1]), reset_real_features=False,
            sync_on_compute=False,  # only the main process of a multi-process run measures: nothing to gather
        )
        self.metric.update(reference_features.float().cpu(), real=True)

    def __call__(self, features: torch.Tensor) -> float:
        """FID between the reference and ``features`` (N, D); N >= 2."""
        self.metric.reset()
        self.metric.update(features.float().cpu(), real=False)
        return float(self.metric.compute())


class ImageFID:
    """FID computed from uint8 images (N, 3, H, W) by torchmetrics with an image feature network.

    ``feature`` is what torchmetrics' ``FrechetInceptionDistance`` takes: 2048 for its
    Inception-v3 (then ``weights_path`` is that network's weights file), or any module
    mapping uint8 images to (N, D) features.
    """

    def __init__(self, reference_images: torch.Tensor, feature: int | nn.Module = 2048,
                 weights_path: Path | None = None, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.metric = FrechetInceptionDistance(
            feature=feature, reset_real_features=False,
            feature_extractor_weights_path=str(weights_path) if weights_path is not None else None,
            sync_on_compute=False,  # only the main process of a multi-process run measures: nothing to gather
        ).to(self.device)  # the network runs where the run runs; the statistics stay float64
        self._update(reference_images, real=True)

    def _update(self, images: torch.Tensor, real: bool) -> None:
        passes = range(0, len(images), IMAGE_BATCH)
        for start in progress_bar(passes, "Inception features", unit="batch", delay=PROGRESS_DELAY_S):
            self.metric.update(images[start:start + IMAGE_BATCH].to(self.device), real=real)

    def __call__(self, images: torch.Tensor) -> float:
        self.metric.reset()
        self._update(images, real=False)
        return float(self.metric.compute())


# --- choosing the features (eval.fid_features) -------------------------------------------------

# A FID meter maps (images uint8 (N, 3, H, W), judge features (N, D)) to a float.
FIDMeter = Callable[[torch.Tensor, torch.Tensor], float]
FID_FEATURES: Registry[Callable[..., FIDMeter]] = Registry("FID feature kind")


@FID_FEATURES.register("judge")
def judge_fid(reference_images: torch.Tensor, reference_features: torch.Tensor, eval_config,
              device: torch.device | str) -> FIDMeter:
    fid = FeatureFID(reference_features)
    return lambda images, features: fid(features)


@FID_FEATURES.register("inception")
def inception_fid(reference_images: torch.Tensor, reference_features: torch.Tensor, eval_config,
                  device: torch.device | str) -> FIDMeter:
    fid = ImageFID(reference_images, feature=2048, weights_path=inception_weights_path(eval_config), device=device)
    return lambda images, features: fid(images)


def inception_weights_path(eval_config) -> Path:
    """The local Inception weights file, checked: exists, and torch-fidelity can load it."""

    configured = eval_config.inception_weights
    path = Path(configured).expanduser() if configured else cache_root() / INCEPTION_WEIGHTS_FILE
    if not path.is_file():
        raise ConfigError("eval.inception_weights", f"Inception FID needs its weights file {INCEPTION_WEIGHTS_FILE} "
                          f"at {path}, and it is not there (imagelab never downloads). On a connected machine fetch "
                          f"{INCEPTION_WEIGHTS_URL}, copy it to {path} (or set eval.inception_weights=PATH), "
                          f"or use eval.fid_features=judge")
    try:
        import torch_fidelity  # noqa: F401  (torchmetrics' Inception network lives there)
    except ImportError:
        raise ConfigError("eval.fid_features", "'inception' needs the torch-fidelity package: "
                          "pip install torch-fidelity (or use eval.fid_features=judge)") from None
    return path


def build_fid(eval_config, reference_images: torch.Tensor, reference_features: torch.Tensor,
              device: torch.device | str = "cpu") -> FIDMeter:
    """The FID meter ``eval.fid_features`` asks for, with the reference fed in once (Inception runs on ``device``)."""
    return FID_FEATURES.get(eval_config.fid_features)(reference_images, reference_features, eval_config, device)


@METRICS.register("fid")
class FID(Metric):
    """FID of the samples to the reference split, on the features eval.fid_features names."""

    def __init__(self, config: MetricConfig, context: MetricContext) -> None:
        super().__init__(config, context)
        reference = context.reference
        self.meter = build_fid(context.eval, reference.images, context.reference_features, context.device)

    @classmethod
    def columns(cls, config: MetricConfig, breeds) -> list[Column]:
        return [Column("fid", "FID", headline=True)]

    def measure(self, inputs: GenerationInputs) -> dict[str, float]:
        # Not on one thread: the Inception network, when chosen, wants them all.
        return {"fid": self.meter(inputs.images.images, inputs.judgement.features.cpu())}
