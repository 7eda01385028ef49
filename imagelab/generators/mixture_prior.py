"""A Gaussian mixture over latent vectors, held as plain tensors and sampled in torch.

The vae (``prior="gmm"``) fits one to the posterior means of its training images
(Ghosh et al. 2020) and the gmm generator one to the PCA coordinates of its pool's
pixels. Fitting uses scikit-learn's EM; the fitted mixture is kept as weights, means
and Cholesky factors of the covariances, so a saved generator loads and samples
without scikit-learn and without unpickling anything.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from imagelab.seeding import per_sample_randn


@dataclass
class MixturePrior:
    """A Gaussian mixture over latents as plain tensors: weights (K,), means (K, D), scale_tril (K, D, D)."""

    weights: torch.Tensor
    means: torch.Tensor
    scale_tril: torch.Tensor  # lower Cholesky factor of each component's covariance

    @classmethod
    def standard_normal(cls, latent_dim: int) -> MixturePrior:
        return cls(torch.ones(1), torch.zeros(1, latent_dim), torch.eye(latent_dim).unsqueeze(0))

    @classmethod
    def fit(cls, latents: torch.Tensor, components: int, reg_covar: float, seed: int,
            covariance: str = "full") -> MixturePrior:
        """Fit a mixture with ``covariance`` "full" or "diag" to ``latents`` (N, D) with scikit-learn's EM."""
        # Only fitting needs scikit-learn; loading and sampling do not.
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture
        from threadpoolctl import threadpool_limits

        points = latents.detach().double().cpu().numpy()
        mixture = GaussianMixture(
            n_components=min(components, len(points)),
            covariance_type=covariance,
            reg_covar=reg_covar,
            max_iter=200,
            random_state=seed % 2**32,
        )
        # One BLAS thread: the matrices are tiny, and extra threads spin against the training threads
        # (measured 0.4 s single-threaded vs 8 s with 2 OpenBLAS threads on a busy 2-core machine).
        with threadpool_limits(limits=1), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # an unconverged EM is still a usable density
            mixture.fit(points)
        covariances = torch.from_numpy(mixture.covariances_)
        if covariance == "diag":  # (K, D) variances -> (K, D, D), so sampling has one code path
            covariances = torch.diag_embed(covariances)
        return cls(
            torch.from_numpy(mixture.weights_).float(),
            torch.from_numpy(mixture.means_).float(),
            torch.linalg.cholesky(covariances).float(),
        )

    def sample(self, seeds: list[int], temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """One latent per seed: (len(seeds), D) latents and (len(seeds),) component indices.

        Row i uses only ``seeds[i]``: its first standard-normal draw picks the component
        (through the normal CDF, a uniform number), the other D draw the point.
        """
        latent_dim = self.means.shape[1]
        noise = per_sample_randn((latent_dim + 1,), seeds)  # (N, 1 + D), CPU
        uniform = torch.special.ndtr(noise[:, 0].double())
        cumulative = torch.cumsum(self.weights.double().cpu(), 0)
        component = torch.searchsorted(cumulative / cumulative[-1], uniform).clamp_(max=len(cumulative) - 1)
        spread = torch.einsum("nij,nj->ni", self.scale_tril.cpu()[component], noise[:, 1:])
        return self.means.cpu()[component] + temperature * spread, component

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"prior.weights": self.weights, "prior.means": self.means, "prior.scale_tril": self.scale_tril}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> MixturePrior:
        return cls(*(tensors[f"prior.{k}"].float().cpu() for k in ("weights", "means", "scale_tril")))
