"""The gmm generator against theory: a refitted Gaussian loses variance as ((n - 1)/n)^t (Shumailov et al.)."""

import math

import pytest
import torch

from imagelab.data.imageset import ImageSet
from imagelab.errors import ConfigError
from imagelab.generators import GENERATORS, DataSpec
from imagelab.seeding import derive_seed

N = 60  # images per generation
GENERATIONS = 6
SEEDS = 30
RESOLUTION = 4  # 48 pixel values per image; PCA keeps all 48 dimensions, an exact rotation


def total_variance(images: torch.Tensor) -> float:
    """Trace of the maximum-likelihood covariance of the images' pixel values (in [0, 1] units)."""
    pixels = images.reshape(len(images), -1).double() / 255
    return float(pixels.var(dim=0, unbiased=False).sum())


def variance_chain(seed: int) -> list[float]:
    generator_class = GENERATORS.get("gmm")
    # In the PCA basis the sample covariance is diagonal, so a diagonal fit there is the full maximum-likelihood fit.
    config = generator_class.Config(name="gmm", components=1, pca_dimensions=48, covariance="diag", reg_covar=0.0)
    noise = torch.randn(N, 3, RESOLUTION, RESOLUTION, generator=torch.Generator().manual_seed(seed))
    images = (128 + 20 * noise).round().clamp(0, 255).to(torch.uint8)  # far from 0 and 255: no clipping
    variances = [total_variance(images)]
    for generation in range(1, GENERATIONS + 1):
        generator = generator_class(config, DataSpec(RESOLUTION, 1), torch.device("cpu"))
        generator.fit(ImageSet.create(images), seed=derive_seed(seed, "fit", generation))
        images = generator.sample(N, seed=derive_seed(seed, "sample", generation)).images
        variances.append(total_variance(images))
    return variances


def test_one_gaussian_refitted_on_its_samples_shrinks_as_theory_says():
    ratios = torch.tensor([variance_chain(seed) for seed in range(SEEDS)])  # (seeds, t)
    ratios = ratios / ratios[:, :1]  # relative to each chain's generation-0 variance
    theory = ((N - 1) / N) ** torch.arange(GENERATIONS + 1, dtype=torch.float64)
    error = ratios.std(dim=0) / math.sqrt(SEEDS)
    assert ((ratios.mean(dim=0) - theory).abs()[1:] < 4 * error[1:]).all(), (ratios.mean(0), theory)
    # The test can tell: after 6 generations about 10% of the variance is gone, many standard errors.
    assert ratios[:, -1].mean() + 4 * error[-1] < 1.0


def test_pca_dimensions_beyond_the_data_are_refused():
    generator_class = GENERATORS.get("gmm")
    config = generator_class.Config(name="gmm", pca_dimensions=5)
    generator = generator_class(config, DataSpec(1, 1), torch.device("cpu"))
    with pytest.raises(ConfigError, match="generator.pca_dimensions: must be at most min"):
        generator.fit(ImageSet.create(torch.zeros(4, 3, 1, 1, dtype=torch.uint8)), seed=0)
