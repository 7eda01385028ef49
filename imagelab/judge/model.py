"""The judge: a timm classifier that says which breed an image shows, if any.

It is trained once, from scratch, on balanced real data and then kept fixed: each
generation's samples go through it once (``Judge.judge``), and that one forward
pass gives the breed counts (``labels``), the confidences and the penultimate
features that FID and the coverage metrics use.

A judge that confidently names a breed for a blurry blob measures nothing (DESIGN.md,
"Fidelity first"), so training adds *outlier exposure* (Hendrycks et al., ICLR
2019, "Deep Anomaly Detection with Outlier Exposure"): every batch carries
degenerate images (``imagelab.data.degenerate``) whose predicted distribution is
pushed towards uniform. Their maximum softmax probability then stays low, and a
prediction below the threshold is counted as unrecognized. The threshold is the
confidence below which only ``real_reject_rate`` (0.5%) of real held-out images
fall, but at least 0.5, unless ``confidence_threshold`` fixes it. Real images get only mild
augmentation (a little blur, noise, flips, shifts), so soft but decent generator
samples are still recognized.

A generator that blurs two breeds into one dog is the other trap: a judge trained on
clean images alone calls a washed-out golden retriever a Petit Basset Griffon
Vendéen and a smudged beagle a basset hound, and the rarest breeds then seem to
thrive on the generator's failures. Training therefore also shows pixel blends of
two breeds with their mixed label (mixup, Zhang et al., ICLR 2018), so such a dog
gets split confidence instead of a rare breed's name.
"""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Sequence

import timm
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from imagelab.judge.degenerate import REFERENCE_RESOLUTION, blurred, degenerate_mix, degenerate_sets, gaussian_blur
from imagelab.data.imageset import UNLABELED, ImageSet
from imagelab.judge.config import JudgeConfig
from imagelab.judge.judgement import Judgement
from imagelab.runtime.finite import check_finite
from imagelab.judge.pretrained import load_pretrained
from imagelab.judge.calibration import false_positive_floors, label_confusion
from imagelab.runs.atomic import atomic_write
from imagelab.seeding import derive_seed, torch_generator

WEIGHTS_FILE = "model.safetensors"
INFO_FILE = "judge.json"
BLUR_RESPONSE_SIGMAS = (0.5, 1.0, 1.5, 2.0, 3.0)  # px at 32 px, reported in judge.json
MAJORITY = 0.5  # the lowest derived threshold: below it the named breed is not even more likely than "some other"


# Images per forward pass when judging; a process of a multi-process run judges whole passes.
JUDGING_BATCH = 512

class Judge:
    """A trained classifier, its threshold and its accuracy on held-out real data."""

    def __init__(self, model: torch.nn.Module, config: JudgeConfig, breeds: Sequence[str], resolution: int,
                 device: torch.device | str, metrics: dict[str, Any] | None = None) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        if _channels_last(self.device):
            self.model = self.model.to(memory_format=torch.channels_last)
        self.config = config
        self.breeds = tuple(breeds)
        self.resolution = resolution
        metrics = metrics or {}
        # Until calibrated (``Judge.train``), a fixed threshold or none at all.
        self.threshold: float = metrics.get("threshold", config.confidence_threshold or 0.0)
        self.accuracy: float = metrics.get("accuracy", float("nan"))  # argmax accuracy on the eval set
        self.per_breed_accuracy: dict[str, float] = metrics.get("per_breed_accuracy", {})
        self.confusion: torch.Tensor = torch.tensor(metrics.get("confusion", []), dtype=torch.int64)  # (K, K), rows: truth
        # (K, K + 1) with the threshold applied: rows truth, columns judged breed then unrecognized (metrics/bbse.py).
        self.label_confusion: torch.Tensor = torch.tensor(metrics.get("label_confusion", []), dtype=torch.int64)
        # Per breed: the upper bound of its false-positive rate on real held-out images, below which a share
        # is indistinguishable from judge error (metrics/bbse.py).
        self.detection_floors: dict[str, float] = metrics.get("detection_floors", {})
        self.real_rejected: float = metrics.get("real_rejected", float("nan"))  # eval images below the threshold
        self.degenerate_rejected: dict[str, float] = metrics.get("degenerate_rejected", {})  # fresh seeds, per kind
        # Share of eval images still recognized as their breed after a Gaussian blur of sigma (px at 32 px):
        # where this instrument's "soft but fine" ends.
        self.blur_response: dict[str, float] = metrics.get("blur_response", {})
        self._feature_dim: int | None = None

    # --- training -------------------------------------------------------------------------------

    @classmethod
    def train(cls, config: JudgeConfig, train_set: ImageSet, eval_set: ImageSet, breeds: Sequence[str],
              device: torch.device | str, seed: int, progress: bool = True) -> Judge:
        """Train from scratch on ``train_set`` (balanced, labelled), then measure on ``eval_set``."""
        device = torch.device(device)
        train_set = train_set.subset(train_set.labels >= 0)
        if len(train_set) == 0 or int(train_set.labels.max()) >= len(breeds):
            raise ValueError(f"the judge needs labelled training images with labels below {len(breeds)}")
        resolution = train_set.resolution
        # timm initialises from the global RNG: seed it, without disturbing the caller's stream.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(seed, "judge", "init"))
            model = timm.create_model(config.model, pretrained=False, num_classes=len(breeds), drop_rate=config.drop_rate)
            if config.pretrained:
                load_pretrained(model, config.pretrained, config.model)
            judge = cls(model, config, breeds, resolution, device)
            _fit(judge.model, config, train_set, device, seed, progress)
        judge.model.eval()
        judge._calibrate(eval_set)
        judge._measure(eval_set, seed)
        return judge

    def _calibrate(self, eval_set: ImageSet) -> None:
        """Set the unrecognized threshold: fixed in the config, or from real held-out confidences."""
        if self.config.confidence_threshold is not None:
            self.threshold = self.config.confidence_threshold
            return
        confidence = self.judge(eval_set.images).confidence.double()
        self.threshold = max(MAJORITY, float(torch.quantile(confidence, self.config.real_reject_rate)))

    def _measure(self, eval_set: ImageSet, seed: int) -> None:
        """Accuracy, confusion and rejection rates on held-out real data and fresh degenerate images."""
        eval_set = eval_set.subset(eval_set.labels >= 0)
        if len(eval_set) == 0:
            raise ValueError("the judge needs a labelled eval set to measure its accuracy")
        k = len(self.breeds)
        result = self.judge(eval_set.images)
        truth = eval_set.labels
        self.accuracy = (result.predicted == truth).float().mean().item()
        self.confusion = torch.bincount(truth * k + result.predicted, minlength=k * k).reshape(k, k)
        per_breed = self.confusion.diag().float() / self.confusion.sum(1).clamp_min(1)
        self.per_breed_accuracy = {breed: per_breed[i].item() for i, breed in enumerate(self.breeds)}
        self.real_rejected = (~result.recognized).float().mean().item()
        self.label_confusion = label_confusion(truth, result.labels, k)
        floors = false_positive_floors(self.label_confusion)
        self.detection_floors = {breed: float(floors[i]) for i, breed in enumerate(self.breeds)}
        # Degenerate images from held-out sources, seeds and blur strengths the training never saw.
        low = self.config.outlier_blur_min
        sets = degenerate_sets(eval_set.images, 100, derive_seed(seed, "judge", "check"),
                               blur_sigma=(1.25 * low, 2.5 * low), blob_radius=(5.0, 8.0))
        self.degenerate_rejected = {kind: (~self.judge(images).recognized).float().mean().item()
                                    for kind, images in sets.items()}
        every = max(1, len(eval_set) // 500)
        images, truth = eval_set.images[::every], truth[::every]
        self.blur_response = {f"{sigma:g}": (self.judge(blurred(images, sigma, seed)).labels == truth).float().mean().item()
                              for sigma in BLUR_RESPONSE_SIGMAS}

    # --- inference ------------------------------------------------------------------------------

    @torch.inference_mode()
    def judge(self, images: torch.Tensor, batch_size: int = JUDGING_BATCH) -> Judgement:
        """One forward pass over uint8 images (N, 3, H, W); results come back on the CPU."""
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"judge() takes uint8 images (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
        if images.shape[-2:] != (self.resolution, self.resolution):
            raise ValueError(f"the judge was trained at {self.resolution} px, got images of {tuple(images.shape[-2:])}")
        self.model.eval()
        logits, features = [], []
        for start in range(0, len(images), batch_size):
            x = _prepare(images[start:start + batch_size], self.device)
            with _autocast(self.device):
                batch_features, batch_logits = _forward(self.model, x)
            features.append(batch_features.float().cpu())
            logits.append(batch_logits.float().cpu())
        if not logits:
            return _empty_judgement(self.feature_dim)
        probabilities = torch.cat(logits).softmax(dim=1)
        confidence, predicted = probabilities.max(dim=1)
        labels = torch.where(confidence >= self.threshold, predicted, torch.full_like(predicted, UNLABELED))
        return Judgement(labels=labels, predicted=predicted, confidence=confidence, features=torch.cat(features))

    @property
    def feature_dim(self) -> int:
        if self._feature_dim is None:
            probe = torch.zeros(1, 3, self.resolution, self.resolution, dtype=torch.uint8)
            self._feature_dim = self.judge(probe).features.shape[1]
        return self._feature_dim

    # --- persistence ----------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """Everything but the weights, as written to judge.json."""
        return {
            "model": self.config.model,
            "breeds": list(self.breeds),
            "resolution": self.resolution,
            "threshold": self.threshold,
            "feature_dim": self.feature_dim,
            "accuracy": self.accuracy,
            "per_breed_accuracy": self.per_breed_accuracy,
            "real_rejected": self.real_rejected,
            "degenerate_rejected": self.degenerate_rejected,
            "blur_response": self.blur_response,
            "confusion": self.confusion.tolist(),
            "label_confusion": self.label_confusion.tolist(),
            "detection_floors": self.detection_floors,
            "config": asdict(self.config),
        }

    def save(self, directory: Path) -> None:
        """Write model.safetensors and judge.json into ``directory``, each via a temporary name."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {name: t.detach().cpu().contiguous() for name, t in self.model.state_dict().items()}
        atomic_write(directory / WEIGHTS_FILE, lambda path: save_file(state, str(path)))
        text = json.dumps(self.info(), indent=2)
        atomic_write(directory / INFO_FILE, lambda path: path.write_text(text))

    @classmethod
    def load(cls, directory: Path, device: torch.device | str) -> Judge:
        directory = Path(directory)
        info = json.loads((directory / INFO_FILE).read_text())
        known = {f.name for f in fields(JudgeConfig)}
        config = JudgeConfig(**{k: v for k, v in info["config"].items() if k in known})
        model = timm.create_model(info["model"], pretrained=False, num_classes=len(info["breeds"]),
                                  drop_rate=config.drop_rate)
        model.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
        return cls(model, config, info["breeds"], info["resolution"], device, metrics=info)


# --- training internals ------------------------------------------------------------------------


def _fit(model: torch.nn.Module, config: JudgeConfig, train_set: ImageSet, device: torch.device, seed: int,
         progress: bool) -> None:
    """Cross-entropy on real images plus, with outlier exposure, cross-entropy to uniform on degenerate ones."""
    generator = torch_generator(derive_seed(seed, "judge", "batches"))
    images = train_set.images.to(device)  # uint8, resident on the device
    labels = train_set.labels.to(device)
    n = len(train_set)
    real_per_batch = min(config.batch_size, n)
    steps_per_epoch = max(1, n // real_per_batch)
    outliers_per_batch = math.ceil(real_per_batch * config.outlier_fraction) if config.outlier_exposure else 0
    blends_per_batch = math.ceil(real_per_batch * config.blend_fraction)
    k = int(labels.max()) + 1
    outlier_blur = (config.outlier_blur_min, 3.0 * config.outlier_blur_min)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch,
                                                   pct_start=0.25)
    model.train()
    for epoch in tqdm(range(config.epochs), desc="judge", leave=False, disable=not progress):
        order = torch.randperm(n, generator=generator).to(device)
        outliers = None
        if outliers_per_batch:
            # A fresh stream each epoch: new sources, blur strengths and noise.
            outliers = degenerate_mix(train_set.images, steps_per_epoch * outliers_per_batch,
                                      derive_seed(seed, "judge", "outliers", epoch), blur_sigma=outlier_blur).to(device)
        for step in range(steps_per_epoch):
            index = order[step * real_per_batch:(step + 1) * real_per_batch]
            batch = images[index]
            if outliers is not None:
                batch = torch.cat([batch, outliers[step * outliers_per_batch:(step + 1) * outliers_per_batch]])
            x = _prepare(batch, device)
            if blends_per_batch:
                blends, blend_targets = _breed_blends(x[:real_per_batch], labels[index], k, blends_per_batch, generator)
                x = torch.cat([x, blends])
            if config.augment:
                # The same augmentation for real and degenerate images, so it is no cue to realness.
                x = _augment(x, generator, config.real_blur_max)
            with _autocast(device):
                _, logits = _forward(model, x)
            logits = logits.float()
            loss = F.cross_entropy(logits[:real_per_batch], labels[index])
            if outliers is not None:
                # Cross-entropy between the uniform distribution and the prediction on degenerate images.
                end = real_per_batch + outliers_per_batch
                loss = loss - config.outlier_weight * logits[real_per_batch:end].log_softmax(dim=1).mean()
            if blends_per_batch:
                blend_logits = logits[len(logits) - len(blends):].log_softmax(dim=1)
                if config.blend_target == "uniform":
                    loss = loss - config.outlier_weight * blend_logits.mean()
                else:
                    loss = loss - (blend_targets * blend_logits).sum(1).mean()
            check_finite(loss.detach(), f"judge training, epoch {epoch + 1}")  # NonFiniteLossError stops the run
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()


def _breed_blends(x: torch.Tensor, labels: torch.Tensor, k: int, n: int,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` pixel blends of two images of different breeds, and each blend's breed mixture (n, k).

    Pairs come from ``x`` (float images with their ``labels``); the weight of the first image is
    uniform in [0.25, 0.75], so every blend is clearly two dogs at once.
    """
    device = x.device
    first = torch.randint(len(x), (4 * n,), generator=generator).to(device)
    second = torch.randint(len(x), (4 * n,), generator=generator).to(device)
    keep = (labels[first] != labels[second]).nonzero().flatten()[:n]
    first, second = first[keep], second[keep]
    weight = (0.25 + 0.5 * torch.rand(len(keep), generator=generator)).to(device)
    blends = weight[:, None, None, None] * x[first] + (1 - weight[:, None, None, None]) * x[second]
    targets = weight[:, None] * F.one_hot(labels[first], k) + (1 - weight[:, None]) * F.one_hot(labels[second], k)
    return blends, targets.float()


def _augment(x: torch.Tensor, generator: torch.Generator, max_blur: float) -> torch.Tensor:
    """Mild, label-preserving changes to float images (B, 3, H, W) in [-1, 1].

    Flips, shifts of up to 2 px, blur of sigma up to ``max_blur`` on half the images
    (pixels at 32 px), small colour offsets and pixel noise: roughly what separates
    a good generator sample from a real image. Random numbers come from the CPU
    ``generator`` so the result does not depend on the device.
    """
    b, _, h, w = x.shape
    scale = w / REFERENCE_RESOLUTION
    device = x.device
    # Flip half of the images left-right.
    flip = (torch.rand(b, generator=generator) < 0.5).to(device)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    # Shift by whole pixels, replicating the edges: gather rows, then columns.
    pad = max(1, round(2 * scale))
    shifts = torch.randint(0, 2 * pad + 1, (b, 2), generator=generator).to(device)
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")  # (B, 3, H + 2p, W + 2p)
    rows = (shifts[:, 0:1] + torch.arange(h, device=device))[:, None, :, None].expand(b, 3, h, w + 2 * pad)
    x = padded.gather(2, rows)
    cols = (shifts[:, 1:2] + torch.arange(w, device=device))[:, None, None, :].expand(b, 3, h, w)
    x = x.gather(3, cols)
    # Blur half of the images a little.
    blur = (torch.rand(b, generator=generator) < 0.5).to(device)
    sigma = torch.rand(b, generator=generator) * max_blur * scale
    if blur.any():
        x[blur] = gaussian_blur(x[blur], sigma.to(device)[blur])
    # Colour offsets (up to ~4/255) and pixel noise (std up to ~5/255).
    offset = (torch.rand(b, 3, 1, 1, generator=generator) - 0.5) * 0.06
    noise_std = torch.rand(b, 1, 1, 1, generator=generator) * 0.04
    noise = torch.randn(x.shape, generator=generator) * noise_std
    return x + (offset + noise).to(device)


def _prepare(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float in [-1, 1] on ``device``."""
    return images.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)


def _channels_last(device: torch.device) -> bool:
    # Measured on a CPU: test_resnet at 32 px trains 1.6x faster (the whole judge training 1.3x);
    # the usual win on CUDA. Unmeasured on MPS, so left out there.
    return device.type in ("cpu", "cuda")


def _forward(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pre-logits features (B, D) and logits (B, K) from one pass."""
    if _channels_last(x.device):
        x = x.contiguous(memory_format=torch.channels_last)
    features = model.forward_head(model.forward_features(x), pre_logits=True)
    return features, model.get_classifier()(features)


def _autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


def _empty_judgement(feature_dim: int) -> Judgement:
    empty = torch.empty(0, dtype=torch.int64)
    return Judgement(empty, empty.clone(), torch.empty(0), torch.empty(0, feature_dim))

