"""The judge: a timm classifier that says which breed an image shows, if any.

It is trained once, from scratch, on balanced real data and then kept fixed: each
generation's samples go through it once (``Judge.judge``), and that one forward
pass gives the breed counts (``labels``), the confidences and the penultimate
features that FID and the coverage metrics use.

A judge that confidently names a breed for a blurry blob measures nothing (DESIGN.md,
"Fidelity first"), so training adds *outlier exposure* (Hendrycks et al., ICLR
2019, "Deep Anomaly Detection with Outlier Exposure"): every batch carries
degenerate images (``imagelab.judge.degenerate``) whose predicted distribution is
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

The degenerate images of outlier exposure come from the data: for the rendered toy
dogs they include the renderer's backgrounds without a dog, for photos only images
made from the photos themselves (``outlier_kinds``; ``imagelab.judge.degenerate``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Sequence

import timm
import torch
from safetensors.torch import load_file, save_file

from imagelab.data.imageset import UNLABELED, ImageSet
from imagelab.judge.calibration import false_positive_floors, label_confusion
from imagelab.judge.config import JudgeConfig
from imagelab.judge.degenerate import KINDS, blurred, degenerate_sets
from imagelab.judge.judgement import Judgement
from imagelab.judge.network import autocast, channels_last, forward, prepare
from imagelab.judge.pretrained import load_pretrained
from imagelab.judge.training import train_classifier
from imagelab.runs.atomic import atomic_write
from imagelab.runtime.progress import PROGRESS_DELAY_S, progress_bar
from imagelab.seeding import derive_seed

WEIGHTS_FILE = "model.safetensors"
INFO_FILE = "judge.json"
BLUR_RESPONSE_SIGMAS = (0.5, 1.0, 1.5, 2.0, 3.0)  # px at 32 px, reported in judge.json
MAJORITY = 0.5  # the lowest derived threshold: below it the named breed is not even more likely than "some other"


# Images per forward pass when judging; a process of a multi-process run judges whole passes.
JUDGING_BATCH = 512

class Judge:
    """A trained classifier, its threshold and its accuracy on held-out real data."""

    def __init__(self, model: torch.nn.Module, config: JudgeConfig, breeds: Sequence[str], resolution: int,
                 device: torch.device | str, metrics: dict[str, Any] | None = None,
                 outlier_kinds: Sequence[str] = KINDS) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        if channels_last(self.device):
            self.model = self.model.to(memory_format=torch.channels_last)
        self.config = config
        self.breeds = tuple(breeds)
        self.resolution = resolution
        metrics = metrics or {}
        # The degenerate kinds of its outlier exposure and of degenerate_rejected (judges saved before photos
        # had kinds of their own were all trained with the toy-dog kinds).
        self.outlier_kinds: tuple[str, ...] = tuple(metrics.get("outlier_kinds", outlier_kinds))
        # How long it trained: {"epochs", "steps"} (empty for judges saved before this was recorded).
        self.training: dict[str, int] = metrics.get("training", {})
        # Until calibrated (``Judge.train``), a fixed threshold or none at all.
        self.threshold: float = metrics.get("threshold", config.confidence_threshold or 0.0)
        self.accuracy: float = metrics.get("accuracy", float("nan"))  # argmax accuracy on the eval set
        self.per_breed_accuracy: dict[str, float] = metrics.get("per_breed_accuracy", {})
        # (K, K), rows: truth
        self.confusion: torch.Tensor = torch.tensor(metrics.get("confusion", []), dtype=torch.int64)
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
              device: torch.device | str, seed: int, progress: bool = True,
              outlier_kinds: Sequence[str] = KINDS) -> Judge:
        """Train from scratch on ``train_set`` (balanced, labelled), then measure on ``eval_set``.

        ``outlier_kinds``: the degenerate images it learns to reject (KINDS for the toy dogs,
        PHOTO_KINDS for photos, from ``imagelab.judge.degenerate``).
        """
        device = torch.device(device)
        train_set = train_set.subset(train_set.labels >= 0)
        if len(train_set) == 0 or int(train_set.labels.max()) >= len(breeds):
            raise ValueError(f"the judge needs labelled training images with labels below {len(breeds)}")
        resolution = train_set.resolution
        # timm initialises from the global RNG: seed it, without disturbing the caller's stream.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(seed, "judge", "init"))
            model = timm.create_model(config.model, pretrained=False, num_classes=len(breeds),
                                      drop_rate=config.drop_rate)
            if config.pretrained:
                load_pretrained(model, config.pretrained, config.model)
            judge = cls(model, config, breeds, resolution, device, outlier_kinds=outlier_kinds)
            plan = train_classifier(judge.model, config, train_set, device, seed, progress, judge.outlier_kinds)
        judge.training = {"epochs": plan.epochs, "steps": plan.steps}
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
                               blur_sigma=(1.25 * low, 2.5 * low), blob_radius=(5.0, 8.0), kinds=self.outlier_kinds)
        self.degenerate_rejected = {kind: (~self.judge(images).recognized).float().mean().item()
                                    for kind, images in sets.items()}
        every = max(1, len(eval_set) // 500)
        images, truth = eval_set.images[::every], truth[::every]
        self.blur_response = {
            f"{sigma:g}": (self.judge(blurred(images, sigma, seed)).labels == truth).float().mean().item()
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
        passes = range(0, len(images), batch_size)
        for start in progress_bar(passes, "judging", unit="batch", delay=PROGRESS_DELAY_S):
            x = prepare(images[start:start + batch_size], self.device)
            with autocast(self.device):
                batch_features, batch_logits = forward(self.model, x)
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
            "outlier_kinds": list(self.outlier_kinds),
            "training": self.training,
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


def _empty_judgement(feature_dim: int) -> Judgement:
    empty = torch.empty(0, dtype=torch.int64)
    return Judgement(empty, empty.clone(), torch.empty(0), torch.empty(0, feature_dim))

