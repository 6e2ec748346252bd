"""Closed forms between Gaussians, univariate and multivariate, batched over leading dimensions, in float64.

Stable by construction: Cholesky solves and log-determinants (never explicit inverses); Bhattacharyya and
chi^2 through log-space with expm1; the Frechet (W2 / FID) distance through symmetric factors and singular
values, so no complex number ever appears. Infinite divergences return +inf, never a finite number or NaN.

Conventions: D_f(P||Q) = E_Q[f(p/q)]. squared_hellinger is fdiv's f = (sqrt(u) - 1)^2, i.e.
int (sqrt p - sqrt q)^2 = 2 (1 - BC); some texts use half of it (1 - BC).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from .errors import NumericsError


@dataclass(frozen=True)
class Gaussian:
    """N(mean, cov) with mean of shape (..., d) and cov of shape (..., d, d); validated on construction."""

    mean: np.ndarray
    cov: np.ndarray
    chol: np.ndarray  # lower Cholesky factor of cov

    @property
    def dim(self) -> int:
        return self.mean.shape[-1]

    def logdet(self) -> np.ndarray:
        return 2.0 * np.log(np.diagonal(self.chol, axis1=-2, axis2=-1)).sum(-1)


def gaussian(mean, cov, *, name: str = "p") -> Gaussian:
    """A validated multivariate Gaussian; raises NumericsError naming what is wrong."""
    mean = np.asarray(mean, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    if mean.ndim == 0:
        mean = mean[None]
    if cov.ndim < 2 or cov.shape[-1] != cov.shape[-2]:
        raise NumericsError(f"{name}: covariance must be a square matrix (..., d, d), got shape {cov.shape}")
    if mean.shape[-1] != cov.shape[-1]:
        raise NumericsError(f"{name}: mean has dimension {mean.shape[-1]} but covariance is {cov.shape[-1]}x{cov.shape[-1]}")
    if not (np.isfinite(mean).all() and np.isfinite(cov).all()):
        raise NumericsError(f"{name}: mean and covariance must be finite (found NaN or inf)")
    if not np.allclose(cov, np.swapaxes(cov, -1, -2), rtol=1e-10, atol=1e-12 * max(1.0, np.abs(cov).max())):
        raise NumericsError(f"{name}: covariance is not symmetric")
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise NumericsError(f"{name}: covariance is not positive definite") from None
    return Gaussian(mean, cov, chol)


def univariate(mean, var, *, name: str = "p") -> Gaussian:
    """N(mean, var) in 1-D; mean and var may be arrays of the same shape (a batch)."""
    mean = np.asarray(mean, dtype=np.float64)
    var = np.asarray(var, dtype=np.float64)
    if mean.shape != var.shape:
        raise NumericsError(f"{name}: mean shape {mean.shape} and variance shape {var.shape} differ")
    if not (np.isfinite(mean).all() and np.isfinite(var).all()):
        raise NumericsError(f"{name}: mean and variance must be finite (found NaN or inf)")
    if (var <= 0).any():
        raise NumericsError(f"{name}: variance must be positive, got {var.min()}")
    return Gaussian(mean[..., None], var[..., None, None], np.sqrt(var)[..., None, None])


def _as_pair(p: Gaussian, q: Gaussian) -> None:
    if p.dim != q.dim:
        raise NumericsError(f"p has dimension {p.dim} but q has dimension {q.dim}")


def _solve_chol(chol: np.ndarray, b: np.ndarray) -> np.ndarray:
    """L^-1 b for lower-triangular L (batched)."""
    return np.linalg.solve(chol, b)


def _mahalanobis2(chol: np.ndarray, delta: np.ndarray) -> np.ndarray:
    z = _solve_chol(chol, delta[..., None])[..., 0]
    return (z * z).sum(-1)


def _cholesky_or_none(cov: np.ndarray):
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return None


def kl(p: Gaussian, q: Gaussian) -> np.ndarray:
    """KL(P||Q) = 1/2 [tr(Sq^-1 Sp) + (mq - mp)' Sq^-1 (mq - mp) - d + log det Sq - log det Sp]."""
    _as_pair(p, q)
    a = _solve_chol(q.chol, p.chol)  # Lq^-1 Lp: tr(Sq^-1 Sp) = ||a||_F^2
    trace = (a * a).sum((-2, -1))
    return 0.5 * (trace + _mahalanobis2(q.chol, q.mean - p.mean) - p.dim + q.logdet() - p.logdet())


def bhattacharyya_distance(p: Gaussian, q: Gaussian) -> np.ndarray:
    """D_B = 1/8 d' S^-1 d + 1/2 log(det S / sqrt(det Sp det Sq)), S = (Sp + Sq)/2; BC = exp(-D_B)."""
    _as_pair(p, q)
    s = gaussian(p.mean, (p.cov + q.cov) / 2, name="(p + q)/2")
    return _mahalanobis2(s.chol, p.mean - q.mean) / 8 + 0.5 * (s.logdet() - 0.5 * (p.logdet() + q.logdet()))


def bhattacharyya_coefficient(p: Gaussian, q: Gaussian) -> np.ndarray:
    return np.exp(-bhattacharyya_distance(p, q))


def squared_hellinger(p: Gaussian, q: Gaussian) -> np.ndarray:
    """int (sqrt p - sqrt q)^2 = 2 (1 - BC) (fdiv's f = (sqrt u - 1)^2), as -2 expm1(-D_B)."""
    return -2.0 * np.expm1(-bhattacharyya_distance(p, q))


def _log_alpha_integral(p: Gaussian, q: Gaussian, alpha: float) -> np.ndarray:
    """log int p^alpha q^(1-alpha), +inf where S_a = alpha Sq + (1 - alpha) Sp is not positive definite."""
    _as_pair(p, q)
    s_cov = alpha * q.cov + (1 - alpha) * p.cov
    out = np.full(np.broadcast_shapes(p.mean.shape[:-1], q.mean.shape[:-1]), np.inf)
    flat_s = s_cov.reshape(-1, p.dim, p.dim) if s_cov.ndim > 2 else s_cov[None]
    ok = np.array([_cholesky_or_none(m) is not None for m in flat_s]).reshape(out.shape) if out.shape else \
        np.array(_cholesky_or_none(s_cov) is not None)
    if not ok.any():
        return out
    s_safe = np.where(ok[..., None, None], s_cov, np.eye(p.dim))
    chol = np.linalg.cholesky(s_safe)
    logdet_s = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
    delta = p.mean - q.mean
    quad = _mahalanobis2(chol, delta)
    value = -0.5 * alpha * (1 - alpha) * quad - 0.5 * (logdet_s - (1 - alpha) * p.logdet() - alpha * q.logdet())
    return np.where(ok, value, np.inf)


def renyi(p: Gaussian, q: Gaussian, alpha: float) -> np.ndarray:
    """Renyi divergence D_alpha(P||Q) = log(int p^a q^(1-a))/(a - 1); +inf when a Sq + (1-a) Sp is not PD."""
    if alpha <= 0 or alpha == 1:
        raise NumericsError(f"renyi: alpha must be positive and not 1, got {alpha}")
    return _log_alpha_integral(p, q, alpha) / (alpha - 1)


def pearson_chi2(p: Gaussian, q: Gaussian) -> np.ndarray:
    """chi^2(P||Q) = int (p - q)^2/q = exp(D_2) - 1, finite iff 2 Sq - Sp is positive definite."""
    return np.expm1(_log_alpha_integral(p, q, 2.0))


def neyman_chi2(p: Gaussian, q: Gaussian) -> np.ndarray:
    """int (p - q)^2/p = chi^2(Q||P)."""
    return pearson_chi2(q, p)


def alpha_divergence(p: Gaussian, q: Gaussian, alpha: float) -> np.ndarray:
    """fdiv's alpha row, f = (u^a - 1 - a(u - 1))/(a(a - 1)): (int p^a q^(1-a) - 1)/(a(a - 1))."""
    if alpha in (0, 1):
        raise NumericsError("alpha_divergence: alpha must not be 0 or 1")
    log_i = _log_alpha_integral(p, q, alpha)
    return np.where(np.isinf(log_i), np.inf, np.expm1(np.where(np.isinf(log_i), 0.0, log_i)) / (alpha * (alpha - 1)))


def jeffrey(p: Gaussian, q: Gaussian) -> np.ndarray:
    return kl(p, q) + kl(q, p)


def total_variation(p: Gaussian, q: Gaussian) -> np.ndarray:
    """TV = 1/2 int |p - q|. Equal covariances: 2 Phi(D/2) - 1 = erf(D/(2 sqrt 2)), D the Mahalanobis distance.
    1-D with unequal variances: exact, from the (at most two) points where the densities cross."""
    _as_pair(p, q)
    if p.dim == 1 and not np.allclose(p.cov, q.cov, rtol=0, atol=0):
        return _tv_1d(p.mean[..., 0], p.cov[..., 0, 0], q.mean[..., 0], q.cov[..., 0, 0])
    if not np.array_equal(np.broadcast_to(p.cov, np.broadcast_shapes(p.cov.shape, q.cov.shape)),
                          np.broadcast_to(q.cov, np.broadcast_shapes(p.cov.shape, q.cov.shape))):
        raise NumericsError("total_variation: no closed form for unequal covariances in d > 1; use total_variation_bounds")
    return special.erf(np.sqrt(_mahalanobis2(p.chol, p.mean - q.mean)) / (2 * np.sqrt(2)))


def _tv_1d(m1, v1, m2, v2) -> np.ndarray:
    m1, v1, m2, v2 = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (m1, v1, m2, v2)))
    out = np.empty(m1.shape)
    for idx in np.ndindex(m1.shape):
        a, b, c, d = m1[idx], v1[idx], m2[idx], v2[idx]
        if b == d:
            out[idx] = special.erf(abs(a - c) / np.sqrt(b) / (2 * np.sqrt(2)))
            continue
        # log p - log q = A x^2 + B x + C; TV = sum over the sign intervals of (P - Q)/2 ... = max over sets
        A = 0.5 / d - 0.5 / b
        B = a / b - c / d
        C = 0.5 * (c * c / d - a * a / b) + 0.5 * np.log(d / b)
        disc = B * B - 4 * A * C
        if disc <= 0:  # no crossing cannot happen for two densities; keep the formula total anyway
            out[idx] = 0.0
            continue
        r = np.sqrt(disc)
        x1, x2 = sorted(((-B - r) / (2 * A), (-B + r) / (2 * A)))
        # P - Q has one sign on (x1, x2) and the other outside; TV = |P(x1, x2) - Q(x1, x2)|
        sp, sq = np.sqrt(b), np.sqrt(d)
        mass_p = special.ndtr((x2 - a) / sp) - special.ndtr((x1 - a) / sp)
        mass_q = special.ndtr((x2 - c) / sq) - special.ndtr((x1 - c) / sq)
        out[idx] = abs(mass_p - mass_q)
    return out if out.shape else out[()]


def total_variation_bounds(p: Gaussian, q: Gaussian) -> tuple[np.ndarray, np.ndarray]:
    """Bounds for any pair: 1 - BC <= TV <= min(sqrt(1 - BC^2), sqrt(KL/2)) (Hellinger and Pinsker)."""
    bc = bhattacharyya_coefficient(p, q)
    upper = np.minimum(np.sqrt(-np.expm1(-2 * bhattacharyya_distance(p, q))), np.sqrt(kl(p, q) / 2))
    return 1 - bc, np.minimum(upper, 1.0)


def _psd_factor(cov: np.ndarray) -> np.ndarray:
    """A factor F with F F' = cov for symmetric PSD cov, via eigh; eigenvalues below d eps lambda_max (rounding
    noise of a rank-deficient matrix) are dropped rather than square-rooted into spurious ~1e-8 columns."""
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    keep = w > cov.shape[-1] * np.finfo(np.float64).eps * max(w.max(), 0.0)
    return v[:, keep] * np.sqrt(w[keep])


def frechet_distance(mean_p, cov_p, mean_q, cov_q) -> float:
    """Squared W2 between Gaussians, the FID formula: |mp - mq|^2 + tr Sp + tr Sq - 2 tr (Sp^1/2 Sq Sp^1/2)^1/2.

    Covariances may be singular (PSD). The trace term is the nuclear norm of Fp' Fq for any factors
    Fp Fp' = Sp, Fq Fq' = Sq, computed by an SVD: real, non-negative, no matrix square root of a product.
    """
    mean_p, mean_q = (np.asarray(m, dtype=np.float64).reshape(-1) for m in (mean_p, mean_q))
    cov_p, cov_q = (np.atleast_2d(np.asarray(c, dtype=np.float64)) for c in (cov_p, cov_q))
    d = mean_p.shape[0]
    for name, m, c in (("p", mean_p, cov_p), ("q", mean_q, cov_q)):
        if c.shape != (d, d) or m.shape != (d,):
            raise NumericsError(f"frechet_distance: {name} has mean shape {m.shape} and covariance shape {c.shape}; "
                                f"expected ({d},) and ({d}, {d})")
        if not (np.isfinite(m).all() and np.isfinite(c).all()):
            raise NumericsError(f"frechet_distance: {name} has NaN or inf entries")
        if not np.allclose(c, c.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(c).max())):
            raise NumericsError(f"frechet_distance: covariance of {name} is not symmetric")
        w = np.linalg.eigvalsh((c + c.T) / 2)
        if w.min() < -1e-8 * max(1.0, w.max()):
            raise NumericsError(f"frechet_distance: covariance of {name} is not positive semi-definite "
                                f"(eigenvalue {w.min():.3g})")
    fp, fq = _psd_factor(cov_p), _psd_factor(cov_q)
    nuclear = np.linalg.svd(fp.T @ fq, compute_uv=False).sum() if fp.size and fq.size else 0.0
    delta = mean_p - mean_q
    value = float(delta @ delta + np.trace(cov_p) + np.trace(cov_q) - 2.0 * nuclear)
    return max(value, 0.0)


def wasserstein2(p: Gaussian, q: Gaussian) -> float:
    """W2 (not squared) between two Gaussians."""
    return float(np.sqrt(frechet_distance(p.mean, p.cov, q.mean, q.cov)))


def wasserstein1_1d(mean_p, var_p, mean_q, var_q) -> np.ndarray:
    """W1 between 1-D Gaussians: E|delta + (sp - sq) Z| (quantile coupling), a folded-normal mean."""
    p, q = univariate(mean_p, var_p, name="p"), univariate(mean_q, var_q, name="q")
    delta = p.mean[..., 0] - q.mean[..., 0]
    s = np.abs(np.sqrt(p.cov[..., 0, 0]) - np.sqrt(q.cov[..., 0, 0]))
    with np.errstate(divide="ignore", invalid="ignore"):
        folded = s * np.sqrt(2 / np.pi) * np.exp(-delta**2 / (2 * s**2)) + delta * special.erf(delta / (s * np.sqrt(2)))
    return np.where(s == 0, np.abs(delta), folded)
