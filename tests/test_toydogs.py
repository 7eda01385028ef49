"""The embedded toy-dog renderer: shapes, determinism, backgrounds, and that breeds are told apart."""

import pytest
import torch
import torch.nn.functional as F

from imagelab.data.toydogs import BREEDS, render_backgrounds, render_dogs

NUM_BREEDS = len(BREEDS)


def test_breed_order_puts_the_common_breed_first_and_the_rare_one_last():
    assert len(BREEDS) == len(set(BREEDS)) == 10
    assert BREEDS[0] == "golden_retriever" and BREEDS[-1] == "petit_basset_griffon_vendeen"


@pytest.mark.parametrize("resolution", [16, 32, 64])
def test_shape_and_dtype(resolution):
    breeds = torch.arange(NUM_BREEDS)
    images = render_dogs(breeds, list(range(NUM_BREEDS)), resolution)
    assert images.shape == (NUM_BREEDS, 3, resolution, resolution) and images.dtype == torch.uint8
    backgrounds = render_backgrounds([0, 1], resolution)
    assert backgrounds.shape == (2, 3, resolution, resolution) and backgrounds.dtype == torch.uint8


def test_empty_batch():
    assert render_dogs(torch.zeros(0, dtype=torch.int64), [], 32).shape == (0, 3, 32, 32)


def test_same_inputs_give_bit_identical_images():
    breeds, seeds = torch.arange(NUM_BREEDS).repeat(2), list(range(100, 120))
    assert torch.equal(render_dogs(breeds, seeds), render_dogs(breeds.clone(), list(seeds)))


def test_an_image_does_not_depend_on_the_rest_of_its_batch():
    # A mixed batch longer than one internal chunk, with odd sizes, against each image rendered alone.
    generator = torch.Generator().manual_seed(0)
    breeds = torch.randint(0, NUM_BREEDS, (75,), generator=generator)
    seeds = torch.randint(0, 2**62, (75,), generator=generator).tolist()
    batch = render_dogs(breeds, seeds)
    for k in (0, 1, 33, 64, 74):
        assert torch.equal(render_dogs(breeds[k : k + 1], seeds[k : k + 1]), batch[k : k + 1]), k
    assert torch.equal(render_dogs(breeds[7:30], seeds[7:30]), batch[7:30])
    assert torch.equal(render_backgrounds(seeds[40:45]), render_backgrounds(seeds)[40:45])


def test_different_seeds_give_different_images():
    images = render_dogs(torch.zeros(16, dtype=torch.int64), list(range(16))).flatten(1)
    distinct = {tuple(row.tolist()) for row in images}
    assert len(distinct) == 16
    # Not merely different: the mean absolute pixel difference between neighbours is substantial.
    assert (images[1:].float() - images[:-1].float()).abs().mean() > 10


def test_seeds_of_any_python_int_size_are_accepted():
    images = render_dogs(torch.tensor([0, 1, 2]), [-1, 2**63 + 5, 2**70])
    assert images.shape == (3, 3, 32, 32)


def test_backgrounds_are_the_dog_images_without_the_dog():
    seeds = list(range(30))
    breeds = torch.arange(30) % NUM_BREEDS
    dogs, backgrounds = render_dogs(breeds, seeds).int(), render_backgrounds(seeds).int()
    changed = (dogs - backgrounds).abs().amax(1) > 0  # (N, H, W): pixels the dog (or its shadow) touched
    share = changed.float().mean((1, 2))
    # A dog is there in every image and covers a good part of it, and everywhere else the image *is* the
    # background, bit for bit: so a background render is exactly "this scene without the dog".
    assert (share > 0.08).all() and (share < 0.6).all(), share
    columns = changed.any(1).float().sum(1) / changed.shape[-1]  # share of the width the dog spans
    assert (columns > 0.5).all() and (columns <= 1.0).all(), columns


def test_backgrounds_are_smooth():
    # Low-frequency backgrounds: neighbouring pixels differ little except along the horizon.
    images = render_backgrounds(list(range(50))).float()
    step = (images[..., 1:, :] - images[..., :-1, :]).abs().amax(1)  # (N, H-1, W)
    assert step.median() < 2 and (step > 40).float().mean() < 0.05


def test_bad_arguments_are_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="breed indices"):
        render_dogs(torch.tensor([NUM_BREEDS]), [0])
    with pytest.raises(ValueError, match="seeds"):
        render_dogs(torch.tensor([0, 1]), [0])
    with pytest.raises(ValueError, match="resolution"):
        render_dogs(torch.tensor([0]), [0], resolution=2)


def test_breeds_are_separable_from_coarse_pixels():
    # Low-frequency content alone must tell breeds apart well above chance (0.1): that is what a small
    # generator can reproduce. Features: 8x8 area averages, made mirror-symmetric since dogs face either way.
    def features(first_seed, per_breed):
        breeds = torch.arange(NUM_BREEDS).repeat_interleave(per_breed)
        pixels = F.adaptive_avg_pool2d(render_dogs(breeds, range(first_seed, first_seed + len(breeds))).float(), 8)
        return (pixels + pixels.flip(-1)).flatten(1) / 510, breeds

    train_x, train_y = features(0, 50)
    test_x, test_y = features(10_000, 20)
    # Nearest class centroid (measured 0.29-0.41 over seed sets; backgrounds dominate raw pixel distances).
    centroids = torch.stack([train_x[train_y == k].mean(0) for k in range(NUM_BREEDS)])
    assert (torch.cdist(test_x, centroids).argmin(1) == test_y).float().mean() > 0.2
    # Ridge regression onto one-hot breeds (measured 0.68-0.73).
    mean, std = train_x.mean(0), train_x.std(0) + 1e-3

    def design(x):
        return torch.cat([(x - mean) / std, torch.ones(len(x), 1)], 1).double()

    gram = design(train_x).T @ design(train_x) + 10.0 * torch.eye(train_x.shape[1] + 1, dtype=torch.float64)
    weights = torch.linalg.solve(gram, design(train_x).T @ F.one_hot(train_y, NUM_BREEDS).double())
    assert ((design(test_x) @ weights).argmax(1) == test_y).float().mean() > 0.55


def test_rendering_restores_the_callers_thread_setting():
    threads = torch.get_num_threads()
    render_dogs(torch.tensor([0]), [0])
    assert torch.get_num_threads() == threads
