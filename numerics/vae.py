"""The linear-Gaussian VAE, where everything is exact: z ~ N(0, I), x | z ~ N(W z + b, s^2 I).

log p(x) = log N(x; b, W W' + s^2 I). For any q(z|x) = N(m, diag(sd^2)):
  ELBO = E_q log p(x|z) - KL(q || N(0, I)), in closed form:
  E_q log p(x|z) = -D/2 log(2 pi s^2) - (|x - W m - b|^2 + sum_ij W_ij^2 sd_j^2) / (2 s^2),
  KL = 1/2 sum (m^2 + sd^2 - 1 - log sd^2).
IWAE_k = E log (1/k) sum_i p(x, z_i)/q(z_i|x) is estimated by logsumexp over k samples, repeated.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

from .errors import NumericsError


def kl_to_standard_normal(mean, std) -> float:
    """KL(N(m, diag sd^2) || N(0, I)) = 1/2 sum (m^2 + sd^2 - 1 - log sd^2)."""
    m, s = np.asarray(mean, float), np.asarray(std, float)
    return float(0.5 * np.sum(m**2 + s**2 - 1 - 2 * np.log(s)))


class LinearGaussianVAE:
    def __init__(self, W, b, noise_std: float):
        self.W = np.atleast_2d(np.asarray(W, dtype=np.float64))
        self.b = np.asarray(b, dtype=np.float64).reshape(-1)
        self.noise_std = float(noise_std)
        if self.W.shape[0] != self.b.shape[0]:
            raise NumericsError(f"LinearGaussianVAE: W has {self.W.shape[0]} rows but b has {self.b.shape[0]} entries")
        if not (np.isfinite(self.W).all() and np.isfinite(self.b).all() and math.isfinite(self.noise_std)):
            raise NumericsError("LinearGaussianVAE: W, b and noise_std must be finite")
        if self.noise_std <= 0:
            raise NumericsError(f"LinearGaussianVAE: noise_std must be positive, got {self.noise_std}")

    @property
    def data_dim(self) -> int:
        return self.W.shape[0]

    @property
    def latent_dim(self) -> int:
        return self.W.shape[1]

    def _x(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if x.shape[0] != self.data_dim or not np.isfinite(x).all():
            raise NumericsError(f"x must be {self.data_dim} finite numbers")
        return x

    def _q(self, mean, std) -> tuple[np.ndarray, np.ndarray]:
        m = np.asarray(mean, dtype=np.float64).reshape(-1)
        s = np.asarray(std, dtype=np.float64).reshape(-1)
        if m.shape[0] != self.latent_dim or s.shape[0] != self.latent_dim:
            raise NumericsError(f"q_mean and q_std must have {self.latent_dim} entries")
        if not (np.isfinite(m).all() and np.isfinite(s).all()) or (s <= 0).any():
            raise NumericsError("q_std must be positive and q_mean, q_std finite")
        return m, s

    def log_marginal(self, x) -> float:
        """log N(x; b, W W' + s^2 I) via Cholesky."""
        x = self._x(x)
        cov = self.W @ self.W.T + self.noise_std**2 * np.eye(self.data_dim)
        chol = np.linalg.cholesky(cov)
        z = np.linalg.solve(chol, x - self.b)
        return float(-0.5 * z @ z - np.log(np.diag(chol)).sum() - 0.5 * self.data_dim * math.log(2 * math.pi))

    def expected_log_likelihood(self, x, q_mean, q_std) -> float:
        x, (m, s) = self._x(x), self._q(q_mean, q_std)
        r = x - self.W @ m - self.b
        spread = float(np.sum(self.W**2 * s**2))
        var = self.noise_std**2
        return float(-0.5 * self.data_dim * math.log(2 * math.pi * var) - (r @ r + spread) / (2 * var))

    def elbo(self, x, q_mean, q_std) -> float:
        m, s = self._q(q_mean, q_std)
        return self.expected_log_likelihood(x, m, s) - kl_to_standard_normal(m, s)

    def beta_elbo(self, x, q_mean, q_std, beta: float) -> float:
        """E_q log p(x|z) - beta KL(q || p(z)); equals the ELBO at beta = 1 and bounds it from above for beta < 1."""
        m, s = self._q(q_mean, q_std)
        return self.expected_log_likelihood(x, m, s) - beta * kl_to_standard_normal(m, s)

    def log_weights(self, x, q_mean, q_std, k: int, num_estimates: int, seed: int) -> np.ndarray:
        """log p(x, z) - log q(z|x) for z ~ q, shape (num_estimates, k)."""
        x, (m, s) = self._x(x), self._q(q_mean, q_std)
        rng = np.random.default_rng(seed)
        eps = rng.standard_normal((num_estimates, k, self.latent_dim))
        z = m + s * eps
        var = self.noise_std**2
        r = x - (z @ self.W.T) - self.b
        log_lik = -0.5 * (r**2).sum(-1) / var - 0.5 * self.data_dim * math.log(2 * math.pi * var)
        log_prior = -0.5 * (z**2).sum(-1) - 0.5 * self.latent_dim * math.log(2 * math.pi)
        log_q = -0.5 * (eps**2).sum(-1) - np.log(s).sum() - 0.5 * self.latent_dim * math.log(2 * math.pi)
        return log_lik + log_prior - log_q

    def iwae_bound(self, x, q_mean, q_std, k: int, num_estimates: int, seed: int) -> tuple[float, float]:
        """(mean of num_estimates IWAE_k estimates, its standard error)."""
        if k < 1 or num_estimates < 2:
            raise NumericsError("iwae_bound: need k >= 1 and num_estimates >= 2")
        lw = self.log_weights(x, q_mean, q_std, k, num_estimates, seed)
        estimates = logsumexp(lw, axis=1) - math.log(k)
        return float(estimates.mean()), float(estimates.std(ddof=1) / math.sqrt(num_estimates))

    def posterior(self, x) -> tuple[np.ndarray, np.ndarray]:
        """The exact p(z|x) = N(mu, Sigma): Sigma = (I + W'W/s^2)^-1, mu = Sigma W'(x - b)/s^2."""
        x = self._x(x)
        prec = np.eye(self.latent_dim) + self.W.T @ self.W / self.noise_std**2
        cov = np.linalg.inv(prec)
        return cov @ self.W.T @ (x - self.b) / self.noise_std**2, cov
