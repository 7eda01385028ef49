"""A Gaussian mixture in a PCA space of pixels: Shumailov et al.'s GMM experiment, on images.

Shumailov et al. (Nature 2024) refit a Gaussian mixture on its own samples, generation
after generation, and watched it lose its spread: with n samples per generation the
maximum-likelihood covariance shrinks in expectation by (n - 1)/n each time,
E[Σ_t] = Σ_0 ((n - 1)/n)^t, and the tails go first. This generator does the same
with images: pixels (scaled to [0, 1]) are projected onto their first
``pca_dimensions`` principal components (scikit-learn PCA), a ``components``-way
Gaussian mixture is fitted there (scikit-learn EM), and samples are mixture draws
mapped back to pixels. It has no training error to speak of (EM on a convex-ish
problem, no SGD) and a fixed, known expressivity limit (linear PCA, a few
Gaussians), so comparing it with the VAE separates the error sources Shumailov et
al. name: statistical approximation (all generators), functional expressivity (this
one's PCA and mixture size), functional approximation (the VAE's training).

Everything learned is a tensor (PCA mean and components, mixture weights, means and
Cholesky factors), saved as safetensors. Samples are unlabelled: the judge names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from imagelab.data.imageset import ImageSet
from imagelab.errors import ConfigError
from imagelab.generators.base import GENERATORS, DataSpec, FitReport, Generator, GeneratorConfig
from imagelab.generators.mixture_prior import MixturePrior
from imagelab.seeding import sample_seeds


@dataclass
class GMMConfig(GeneratorConfig):
    name: str = "gmm"
    # Gaussians in the mixture (one per breed of the default data).
    components: int = field(default=10, metadata={"min": 1})
    pca_dimensions: int = field(default=64, metadata={"min": 1})  # principal components of the pixels kept
    covariance: str = field(default="full", metadata={"choices": ("full", "diag")})
    # Added to each covariance's diagonal (PCA units).
    reg_covar: float = field(default=1e-6, metadata={"min": 0.0})


@GENERATORS.register("gmm")
class GaussianMixtureGenerator(Generator):
    """Gaussian mixture in a PCA space of pixels (Shumailov et al.'s GMM experiment on images)."""

    Config = GMMConfig

    def __init__(self, config: GMMConfig, data: DataSpec, device: torch.device) -> None:
        super().__init__(config, data, device)
        self.pca_mean: torch.Tensor | None = None  # (P,) mean pixel vector, P = 3 * R * R, in [0, 1]
        self.pca_components: torch.Tensor | None = None  # (d, P) orthonormal rows
        self.prior: MixturePrior | None = None  # the mixture over (d,) PCA coordinates

    def fit(self, pool: ImageSet, *, seed: int, warm_start: Generator | None = None) -> FitReport:
        from sklearn.decomposition import PCA  # only fitting needs scikit-learn

        pixels = pool.images.reshape(len(pool), -1).double().cpu() / 255  # (N, P)
        most = min(pixels.shape)
        if self.config.pca_dimensions > most:
            raise ConfigError("generator.pca_dimensions",
                              f"must be at most min(pool size, pixels) = {most} for a pool of {len(pool)} "
                              f"images of {pixels.shape[1]} values, got {self.config.pca_dimensions}")
        pca = PCA(n_components=self.config.pca_dimensions, random_state=seed % 2**32)
        coordinates = torch.from_numpy(pca.fit_transform(pixels.numpy()))  # (N, d)
        self.pca_mean = torch.from_numpy(pca.mean_).float()
        self.pca_components = torch.from_numpy(pca.components_).float()
        self.prior = MixturePrior.fit(coordinates, self.config.components, self.config.reg_covar, seed,
                                      covariance=self.config.covariance)
        # EM has no loss curve worth logging; a finite value keeps the logs uniform.
        return FitReport(losses=[0.0])

    def sample(self, n: int, *, seed: int) -> ImageSet:
        if self.prior is None or self.pca_mean is None or self.pca_components is None:
            raise RuntimeError("the gmm must be fitted (or loaded) before sampling")
        coordinates, _ = self.prior.sample(sample_seeds(seed, n))  # (n, d); row i from its own seed
        pixels = coordinates @ self.pca_components + self.pca_mean  # (n, P) in [0, 1] up to the tails
        resolution = self.data.resolution
        images = (pixels * 255).round().clamp(0, 255).to(torch.uint8).reshape(n, 3, resolution, resolution)
        return ImageSet.create(images)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        if self.prior is None:
            raise RuntimeError("the gmm has nothing to save before it is fitted")
        return {"pca.mean": self.pca_mean, "pca.components": self.pca_components, **self.prior.tensors()}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.pca_mean = tensors["pca.mean"].float().cpu()
        self.pca_components = tensors["pca.components"].float().cpu()
        self.prior = MixturePrior.from_tensors(tensors)
