"""The judge: accurate on held-out toy dogs, silent on degenerate images, reproducible, persistent.

One small judge is trained per test session (a few seconds on a CPU) on a small
toy-dog split; the degenerate images it is tested on come from held-out images,
with seeds and blur/blob sizes that its training never used.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from imagelab.data.imageset import UNLABELED, ImageSet
from imagelab.data.toydogs import BREEDS, render_dogs
from imagelab.errors import ConfigError
from imagelab.generators import NonFiniteLossError
from imagelab.judge.degenerate import KINDS, blurred, degenerate_mix, degenerate_sets, gaussian_blur
from imagelab.judge.model import INFO_FILE, WEIGHTS_FILE, Judge, JudgeConfig
from imagelab.seeding import derive_seed

SEED = 0
# The default recipe on a split a third the size: smaller batches keep the number of steps up, and
# one degenerate image per real one keeps the outlier exposure near the default's total, and two more
# epochs make up for the fewer steps.
SMALL = JudgeConfig(batch_size=64, outlier_fraction=1.0, epochs=8)


def _split(name: str, per_breed: int) -> ImageSet:
    labels = torch.arange(len(BREEDS)).repeat_interleave(per_breed)
    seeds = [derive_seed("test_judge", name, i) for i in range(len(labels))]
    return ImageSet.create(render_dogs(labels, seeds, 32), labels)


@pytest.fixture(scope="module")
def splits() -> tuple[ImageSet, ImageSet]:
    return _split("train", 100), _split("eval", 40)


@pytest.fixture(scope="module")
def judge(splits) -> Judge:
    train_set, eval_set = splits
    return Judge.train(SMALL, train_set, eval_set, BREEDS, "cpu", seed=SEED, progress=False)


def test_accuracy_on_held_out_toy_dogs(judge):
    assert judge.accuracy >= 0.95, judge.per_breed_accuracy
    assert min(judge.per_breed_accuracy.values()) >= 0.85, judge.per_breed_accuracy
    assert judge.real_rejected <= 0.05
    assert judge.confusion.shape == (len(BREEDS), len(BREEDS))


@pytest.mark.parametrize("kind", KINDS)
def test_degenerate_images_are_unrecognized(judge, splits, kind):
    _, eval_set = splits
    # Seeds and sizes unseen in training (which blurs with sigma 2-6 px, blobs of 4-9 px).
    images = degenerate_sets(eval_set.images, 100, seed=987654, blur_sigma=(2.2, 3.5), blob_radius=(4.5, 8.5))[kind]
    result = judge.judge(images)
    rejected = (result.labels == UNLABELED).float().mean().item()
    assert rejected >= 0.95, (f"{kind}: only {rejected:.0%} unrecognized "
                              f"(confidences {result.confidence.median():.2f} median)")


def test_mildly_soft_images_stay_recognized(judge, splits):
    # Roughly a good generator sample: a little blur and colour noise keep the breed.
    _, eval_set = splits
    soft = blurred(eval_set.images, 0.5, seed=3)
    noisy = (soft.float() + 4.0 * torch.randn(soft.shape, generator=torch.Generator().manual_seed(4))).round()
    result = judge.judge(noisy.clamp(0, 255).to(torch.uint8))
    assert (result.labels == eval_set.labels).float().mean().item() >= 0.9


def test_judgement_shapes_and_threshold(judge, splits):
    _, eval_set = splits
    images = torch.cat([eval_set.images[:40], degenerate_mix(eval_set.images, 24, seed=5)])
    result = judge.judge(images, batch_size=16)  # several batches
    n = len(images)
    assert result.labels.shape == result.predicted.shape == result.confidence.shape == (n,)
    assert result.labels.dtype == result.predicted.dtype == torch.int64
    assert result.confidence.dtype == result.features.dtype == torch.float32
    assert result.features.shape == (n, judge.feature_dim)
    assert torch.isfinite(result.features).all()
    assert ((result.confidence > 0) & (result.confidence <= 1)).all()
    below = result.confidence < judge.threshold
    assert torch.equal(result.labels == UNLABELED, below)
    assert torch.equal(result.labels[~below], result.predicted[~below])
    assert 0 < below.sum() < n  # both kinds of outcome occur
    # Batch size does not change the answer.
    whole = judge.judge(images, batch_size=512)
    assert torch.equal(whole.predicted, result.predicted)
    torch.testing.assert_close(whole.features, result.features, rtol=1e-4, atol=1e-5)


def test_judge_rejects_wrong_input(judge):
    with pytest.raises(ValueError, match="32 px"):
        judge.judge(torch.zeros(2, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8"):
        judge.judge(torch.zeros(2, 3, 32, 32))
    empty = judge.judge(torch.zeros(0, 3, 32, 32, dtype=torch.uint8))
    assert empty.labels.shape == (0,) and empty.features.shape == (0, judge.feature_dim)


def test_save_load_round_trip(judge, splits, tmp_path):
    _, eval_set = splits
    judge.save(tmp_path)
    assert (tmp_path / WEIGHTS_FILE).is_file() and (tmp_path / INFO_FILE).is_file()
    loaded = Judge.load(tmp_path, "cpu")
    assert loaded.breeds == judge.breeds and loaded.threshold == judge.threshold
    assert loaded.accuracy == judge.accuracy and loaded.per_breed_accuracy == judge.per_breed_accuracy
    assert torch.equal(loaded.confusion, judge.confusion)
    assert (torch.equal(loaded.label_confusion, judge.label_confusion)
            and loaded.detection_floors == judge.detection_floors)
    before, after = judge.judge(eval_set.images), loaded.judge(eval_set.images)
    assert torch.equal(before.labels, after.labels)
    assert torch.equal(before.confidence, after.confidence)
    assert torch.equal(before.features, after.features)


def test_same_seed_same_weights(splits):
    train_set, eval_set = splits
    tiny = replace(SMALL, epochs=1, min_steps=0)
    small_train = train_set.subset(slice(0, None, 4))

    def weights(seed: int) -> dict[str, torch.Tensor]:
        return Judge.train(tiny, small_train, eval_set, BREEDS, "cpu", seed=seed, progress=False).model.state_dict()

    first, again, other = weights(1), weights(1), weights(2)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first if first[k].is_floating_point())


def test_exploding_training_stops_with_a_clear_error(splits):
    train_set, eval_set = splits
    with pytest.raises(NonFiniteLossError, match="judge training"):
        Judge.train(replace(SMALL, lr=1e12, batch_size=16), train_set.subset(slice(0, None, 4)), eval_set, BREEDS,
                    "cpu", seed=SEED, progress=False)


def test_config_keeps_soft_and_degenerate_blur_apart():
    with pytest.raises(ConfigError, match="judge.outlier_blur_min"):
        JudgeConfig(real_blur_max=1.5, outlier_blur_min=1.0)


# --- the degenerate makers ------------------------------------------------------------------------


def test_degenerate_makers_are_seeded_uint8(splits):
    _, eval_set = splits
    sets = degenerate_sets(eval_set.images, 8, seed=11)
    again = degenerate_sets(eval_set.images, 8, seed=11)
    other = degenerate_sets(eval_set.images, 8, seed=12)
    for kind in KINDS:
        assert sets[kind].shape == (8, 3, 32, 32) and sets[kind].dtype == torch.uint8
        assert torch.equal(sets[kind], again[kind])
        assert not torch.equal(sets[kind], other[kind])
    mix = degenerate_mix(eval_set.images, 10, seed=11)
    assert mix.shape == (10, 3, 32, 32) and mix.dtype == torch.uint8


def test_gaussian_blur_per_image_sigma():
    one = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    images = one.expand(3, -1, -1, -1)
    out = gaussian_blur(images, torch.tensor([0.0, 1.0, 4.0]))  # one sigma per image
    torch.testing.assert_close(out[0], images[0])  # sigma 0 changes nothing
    torch.testing.assert_close(out.mean((2, 3)), images.mean((2, 3)), atol=0.05, rtol=0)  # mean kept (up to edges)
    assert out[2].std() < out[1].std() < images[1].std()  # more blur, less contrast
    alone = gaussian_blur(images[1:2], torch.tensor([1.0]))  # (almost) independent of the rest of the batch
    torch.testing.assert_close(alone, out[1:2], atol=1e-3, rtol=0)


def test_threshold_is_derived_from_real_held_out_confidences(judge, splits):
    _, eval_set = splits
    confidence = judge.judge(eval_set.images).confidence
    assert judge.threshold >= 0.5  # never below a majority for the named breed
    rejected = (confidence < judge.threshold).float().mean().item()
    assert rejected == pytest.approx(judge.real_rejected)
    assert rejected <= judge.config.real_reject_rate + 1 / len(eval_set) or judge.threshold == 0.5
    fixed = Judge(judge.model, replace(judge.config, confidence_threshold=0.9), judge.breeds, 32, "cpu")
    fixed._calibrate(eval_set)
    assert fixed.threshold == 0.9


def test_two_breed_blends_are_not_credited_to_a_third_breed(judge, splits):
    # A washed-out golden retriever must not become a Petit Basset Griffon Vendeen: pixel blends of two
    # breeds (fresh images) are judged as one of the two or unrecognized, and with less confidence.
    _, eval_set = splits
    generator = torch.Generator().manual_seed(21)
    first = torch.randint(len(eval_set), (600,), generator=generator)
    second = torch.randint(len(eval_set), (600,), generator=generator)
    keep = eval_set.labels[first] != eval_set.labels[second]
    first, second = first[keep], second[keep]
    blends = ((eval_set.images[first].float() + eval_set.images[second].float()) / 2).round().to(torch.uint8)
    result = judge.judge(blends)
    third = ((result.labels != UNLABELED) & (result.labels != eval_set.labels[first])
             & (result.labels != eval_set.labels[second]))
    assert third.float().mean().item() <= 0.05
    assert result.confidence.median() < judge.judge(eval_set.images).confidence.median() - 0.2


def test_detection_floors_bound_the_false_positive_rate(judge, splits):
    _, eval_set = splits
    k = len(BREEDS)
    assert judge.label_confusion.shape == (k, k + 1) and int(judge.label_confusion.sum()) == len(eval_set)
    others = len(eval_set) - len(eval_set) // k
    for i, breed in enumerate(BREEDS):
        false_positives = int(judge.label_confusion[:, i].sum() - judge.label_confusion[i, i])
        assert false_positives / others <= judge.detection_floors[breed] < 0.05
