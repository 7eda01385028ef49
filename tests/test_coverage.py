"""k-NN manifold metrics against the reference prdc package, and their sanity on known sets."""

import numpy as np
import pytest
import torch

from imagelab.metrics.coverage import RealManifold, knn_radii


def clusters(counts: list[int], seed: int, dimensions: int = 8,
             spread: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """Well-separated Gaussian clusters (one per breed): features (N, D) and labels (N,)."""
    generator = torch.Generator().manual_seed(seed)
    centres = 10 * torch.eye(len(counts), dimensions)
    labels = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    features = centres[labels] + spread * torch.randn(len(labels), dimensions, generator=generator)
    return features, labels


@pytest.mark.parametrize("nearest_k", [1, 5])
def test_matches_the_prdc_package_on_random_data(nearest_k):
    prdc = pytest.importorskip("prdc")
    rng = np.random.default_rng(nearest_k)
    real = rng.normal(size=(300, 16)).astype(np.float32)
    fake = (rng.normal(size=(240, 16)) * 1.3 + 0.4).astype(np.float32)
    expected = prdc.compute_prdc(real, fake, nearest_k)
    # Small chunks, so the chunked path (several real-row blocks) is what is compared.
    scores = RealManifold(torch.from_numpy(real), nearest_k, chunk_rows=64).score(torch.from_numpy(fake))
    for name in ("precision", "recall", "density", "coverage"):
        assert getattr(scores, name) == pytest.approx(float(expected[name]), abs=1e-9), name
    assert 0.1 < scores.coverage < 0.95  # a shifted, wider fake set: neither nothing nor everything covered


def test_radii_are_the_kth_neighbour_excluding_the_point_itself():
    points = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    assert knn_radii(points, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(points, 2).tolist() == [3.0, 2.0, 3.0, 6.0]
    with pytest.raises(ValueError, match="nearest_k must be between 1 and 3"):
        knn_radii(points, 4)


def test_identical_sets_are_fully_covered_and_a_removed_breed_is_not():
    features, labels = clusters([200, 120, 60], seed=0)
    manifold = RealManifold(features, nearest_k=5)
    same = manifold.score(features)
    assert same.coverage == 1.0 and same.precision == 1.0 and same.recall == 1.0
    assert same.density == pytest.approx(1.0, abs=0.05)
    # Fresh samples of the same clusters, without breed 2.
    fresh, fresh_labels = clusters([200, 120, 60], seed=1)
    scores = manifold.score(fresh[fresh_labels != 2])
    per_breed = [float(scores.real_covered[labels == b].double().mean()) for b in range(3)]
    assert per_breed[2] == 0.0
    assert per_breed[0] > 0.9 and per_breed[1] > 0.9
    assert float(scores.real_recalled[labels == 2].double().mean()) == 0.0
    assert scores.precision > 0.9  # what remains still looks real
