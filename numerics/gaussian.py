"""Closed forms between Gaussians, univariate and multivariate, batched over leading dimensions, in float64.

Accuracy. Where P and Q are far apart the forms use Cholesky factors: triangular solves (never an inverse or
a general solve) and log-determinants taken as log-ratios of the factors' diagonals. Where P ~ Q, traces and
log-determinants cancel (the textbook forms lose accuracy like 1e-16/delta^2 for a variance ratio 1 + delta),
so the forms switch to cancellation-free ones in Q's whitened coordinates, Lq^-1 Sp Lq^-T = I + D, with D
computed from the difference Sp - Sq: in 1-D through mu = v_p/v_q - 1 and log1pmx(mu) = log(1 + mu) - mu
(always, as it is accurate everywhere), in d > 1 through a Cholesky factor I + E of I + D computed from D
alone (KL's terms then all have one sign; in the alpha-integral the first-order terms cancel exactly and
second-order ones remain). Measured against 60-digit mpmath for variance ratios 1 + delta, 1e-12 <= |delta|
<= 0.1, and mean shifts down to 1e-12 standard deviations: 1-D forms within ~1e-15 relative, d = 2, 3 with
covariances of condition <= 4 within ~2e-14 (tests/test_numerics_near_equal.py asserts 1e-12). The accuracy is
that of the inputs' difference: it is lost when Sp - Sq is itself the result of cancellation, and the error
of the triangular solves grows with the condition number of Sq.
TV is exact in 1-D (also for unequal variances, from the crossing points, with no difference of nearly equal
CDFs) and for equal covariances. Infinite divergences return +inf, never a finite number or NaN; a finite
value beyond float64's range is +inf too.

The Frechet (W2 / FID) distance goes through symmetric factors and singular values, so no complex number
ever appears.

Conventions: D_f(P||Q) = E_Q[f(p/q)]. squared_hellinger is fdiv's f = (sqrt(u) - 1)^2, i.e.
int (sqrt p - sqrt q)^2 = 2 (1 - BC); some texts use half of it (1 - BC).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg, special

from .errors import NumericsError

# In d > 1 the Cholesky forms are used when the value is at least NEAR * d: their rounding error is a few ulps
# of O(d) terms, so they keep ~1e-14 relative there; below it the cancellation-free forms take over.
NEAR = 1e-2


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


# --- accurate elementary functions -------------------------------------------------------------------------

_SERIES = 2.0 / np.arange(3, 24, 2)  # 2/(2k + 1), k = 1..10: 2 atanh(s) - 2 s = sum 2 s^(2k+1)/(2k + 1)


def log1pmx(x, log1p_x=None) -> np.ndarray:
    """log(1 + x) - x for x > -1, to a few ulps relative: for |x| < 1/4, -x s + 2 (s^3/3 + s^5/5 + ...) with
    s = x/(2 + x) (log(1 + x) = 2 atanh(s) and 2 s - x = -x s; 10 terms reach 1e-17 relative); elsewhere
    log(1 + x) - x, with log1p_x in place of log1p(x) where the caller knows log(1 + x) better than from a
    rounded x (a variance ratio near 0)."""
    x = np.asarray(x, dtype=np.float64)
    small = np.abs(x) < 0.25
    s = np.where(small, x, 0.0) / (2.0 + np.where(small, x, 0.0))
    s2 = s * s
    poly = np.zeros_like(s)
    for c in _SERIES[::-1]:
        poly = poly * s2 + c
    series = -x * s + poly * s2 * s
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = (np.log1p(x) if log1p_x is None else np.asarray(log1p_x, dtype=np.float64)) - x
    return np.where(small, series, direct)


_GL_X, _GL_W = np.polynomial.legendre.leggauss(24)


def _ndtr_diff(a: float, b: float, diff: float) -> float:
    """Phi(a) - Phi(b), given diff = a - b computed without cancellation, to a few ulps: Gauss-Legendre on the
    density when a and b are close (the density changes by at most a factor e over [b, a], so 24 nodes are
    exact to rounding), else the two CDFs taken from the side where they are small."""
    if diff == 0:
        return 0.0
    if abs(diff) * (1.0 + max(abs(a), abs(b))) <= 1.0:
        mid, half = b + 0.5 * diff, 0.5 * diff
        t = mid + half * _GL_X
        return float(half * np.dot(_GL_W, np.exp(-0.5 * t * t)) / math.sqrt(2 * math.pi))
    if a > 0 and b > 0:
        return float(special.ndtr(-b) - special.ndtr(-a))
    return float(special.ndtr(a) - special.ndtr(b))


# --- linear algebra ----------------------------------------------------------------------------------------

def _solve_lower(chol: np.ndarray, b: np.ndarray) -> np.ndarray:
    """L^-1 b for lower-triangular L (triangular solves; batched over broadcast leading dimensions)."""
    batch = np.broadcast_shapes(chol.shape[:-2], b.shape[:-2])
    if not batch:
        return linalg.solve_triangular(chol, b, lower=True, check_finite=False)
    chol = np.broadcast_to(chol, batch + chol.shape[-2:])
    b = np.broadcast_to(b, batch + b.shape[-2:])
    out = np.empty(batch + b.shape[-2:])
    for idx in np.ndindex(batch):
        out[idx] = linalg.solve_triangular(chol[idx], b[idx], lower=True, check_finite=False)
    return out


def _mahalanobis2(chol: np.ndarray, delta: np.ndarray) -> np.ndarray:
    z = _solve_lower(chol, delta[..., None])[..., 0]
    return (z * z).sum(-1)


def _log_diag_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(diag a / diag b) for two Cholesky factors: log-determinant differences free of the overall scale."""
    return np.log(np.diagonal(a, axis1=-2, axis2=-1) / np.diagonal(b, axis1=-2, axis2=-1))


def _cholesky_or_none(cov: np.ndarray):
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return None


def _ratio_1d(p: Gaussian, q: Gaussian) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1-D: mu = v_p/v_q - 1 (from v_p - v_q, exact when they are close), log(1 + mu) (from the ratio itself
    away from 1, where 1 + mu would be rounded) and the squared whitened mean shift w^2 = (m_p - m_q)^2/v_q."""
    vp, vq = p.cov[..., 0, 0], q.cov[..., 0, 0]
    mu = (vp - vq) / vq
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        ratio_log = np.log(vp / vq)
    ratio_log = np.where(np.isfinite(ratio_log), ratio_log, np.log(vp) - np.log(vq))
    log_lam = np.where(np.abs(mu) < 0.5, np.log1p(np.where(np.abs(mu) < 0.5, mu, 0.0)), ratio_log)
    return mu, log_lam, (p.mean[..., 0] - q.mean[..., 0]) ** 2 / vq


def _whitened_difference(p: Gaussian, q: Gaussian) -> tuple[np.ndarray, np.ndarray]:
    """D = Lq^-1 (Sp - Sq) Lq^-T, so that Lq^-1 Sp Lq^-T = I + D (from the covariances' difference, exact where
    they are close), and z = Lq^-1 (mp - mq); broadcast over the batch."""
    a = _solve_lower(q.chol, p.cov - q.cov)
    dm = _solve_lower(q.chol, np.swapaxes(a, -1, -2))
    z = _solve_lower(q.chol, (p.mean - q.mean)[..., None])[..., 0]
    shape = np.broadcast_shapes(dm.shape[:-2], z.shape[:-1])
    return np.broadcast_to(0.5 * (dm + np.swapaxes(dm, -1, -2)), shape + dm.shape[-2:]), np.broadcast_to(z, shape + z.shape[-1:])


def _perturbed_cholesky(dm: np.ndarray, block: int = 64) -> np.ndarray | None:
    """E, lower triangular, with (I + E)(I + E)' = I + dm; None when I + dm is not positive definite.

    A blocked right-looking Cholesky that works on dm and E alone: I + dm is never formed, so E keeps its
    relative accuracy when dm is tiny (the diagonal is (1 + t)^(1/2) - 1 = t/(1 + (1 + t)^(1/2)), with t the
    diagonal of dm less the squares already eliminated). Panels are triangular solves, trailing updates products.
    """
    d = dm.shape[-1]
    s = np.array(dm, dtype=np.float64)
    e = np.zeros_like(s)
    for j0 in range(0, d, block):
        j1 = min(j0 + block, d)
        for j in range(j0, j1):
            row = e[j, j0:j]
            t = s[j, j] - row @ row
            if not 1.0 + t > 0.0:
                return None
            e[j, j] = t / (1.0 + math.sqrt(1.0 + t))
            e[j + 1:j1, j] = (s[j + 1:j1, j] - e[j + 1:j1, j0:j] @ row) / (1.0 + e[j, j])
        if j1 < d:
            panel = linalg.solve_triangular(e[j0:j1, j0:j1] + np.eye(j1 - j0), s[j1:, j0:j1].T, lower=True,
                                            check_finite=False).T
            e[j1:, j0:j1] = panel
            s[j1:, j1:] -= panel @ panel.T
    return e


def _near_kl(p: Gaussian, q: Gaussian) -> np.ndarray:
    """KL without cancellation when P ~ Q. With I + D = (I + E)(I + E)': tr D = 2 tr E + |E|_F^2 and
    log det(I + D) = 2 sum log1p(E_ii), so tr D - log det(I + D) = -2 sum log1pmx(E_ii) + |E|_F^2, a sum of
    non-negative terms. In 1-D, directly: mu - log(1 + mu) = -log1pmx(mu)."""
    if p.dim == 1:
        mu, log_lam, w2 = _ratio_1d(p, q)
        return 0.5 * (-log1pmx(mu, log_lam) + w2)
    dm, z = _whitened_difference(p, q)
    out = np.full(dm.shape[:-2], np.nan)
    for idx in np.ndindex(out.shape):
        e = _perturbed_cholesky(dm[idx])
        if e is not None:
            out[idx] = 0.5 * (-2.0 * log1pmx(np.diagonal(e)).sum() + (e * e).sum() + z[idx] @ z[idx])
    return out


def _log1p_over(y: np.ndarray) -> np.ndarray:
    """log(1 + y)/y (1 at y = 0), without forming log(1 + y) for tiny y, which may be subnormal."""
    tiny = np.abs(y) < 1e-8
    safe = np.where(tiny, 0.5, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = np.log1p(safe) / safe
    return np.where(tiny, 1.0 - y / 2.0 + y * y / 3.0, direct)


def _log1pmx_over(y: np.ndarray) -> np.ndarray:
    """(log(1 + y) - y)/y (0 at y = 0), the same way."""
    tiny = np.abs(y) < 1e-8
    safe = np.where(tiny, 0.5, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = log1pmx(safe) / safe
    return np.where(tiny, -y / 2.0 + y * y / 3.0, direct)


def _near_log_alpha_integral(p: Gaussian, q: Gaussian, alpha: float, beta: float,
                             per_beta: bool = False) -> np.ndarray:
    """log int p^a q^b (a + b = 1, both given: b may be far smaller than a's rounding) without cancellation
    when P ~ Q; S_a whitened by Q is I + b D. With per_beta, the value divided by b, formed without dividing
    (for b down to the smallest normal float, where the value itself would be subnormal or 0).

    1-D: -a b/2 w^2/(1 + b mu) - 1/2 (log1pmx(b mu) - b log1pmx(mu)).
    d > 1: with I + D = (I + E)(I + E)' and I + b D = (I + F)(I + F)',
    log det(I + b D) - b log det(I + D) = 2 sum log1pmx(F_ii) - 2 b sum log1pmx(E_ii) - |F|_F^2 + b |E|_F^2
    (the first-order terms cancel exactly through the traces), and z'(I + b D)^-1 z = |(I + F)^-1 z|^2."""
    k = 1.0 if per_beta else beta  # the factor b, taken out when dividing by it
    if p.dim == 1:
        mu, log_lam, w2 = _ratio_1d(p, q)
        den = 1.0 + beta * mu
        pd = den > 0
        den = np.where(pd, den, 1.0)
        small = np.abs(mu) < 0.25  # where log1p(b mu) - b log1p(mu) cancels to b(1 - b) mu^2/2: log1pmx forms
        mu_pd = np.where(pd, mu, 0.0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            y = beta * mu_pd
            if per_beta:  # log1pmx(b mu)/b = mu log1pmx(y)/y and log1p(b mu)/b = mu log1p(y)/y, y = b mu
                direct = mu_pd * _log1p_over(y) - log_lam
                series = mu_pd * _log1pmx_over(np.where(small, y, 0.0)) - log1pmx(np.where(small, mu, 0.0))
            else:
                direct = np.log1p(y) - beta * log_lam  # huge mu: no b mu terms to cancel
                series = log1pmx(np.where(small, y, 0.0)) - beta * log1pmx(np.where(small, mu, 0.0))
        logdets = np.where(small, series, direct)
        return np.where(pd, -0.5 * alpha * k * w2 / den - 0.5 * logdets, np.inf)
    dm, z = _whitened_difference(p, q)
    out = np.full(dm.shape[:-2], np.nan)
    for idx in np.ndindex(out.shape):
        e, f = _perturbed_cholesky(dm[idx]), _perturbed_cholesky(beta * dm[idx])
        if f is None:
            out[idx] = np.inf
        elif e is not None:
            y = linalg.solve_triangular(f + np.eye(p.dim), z[idx], lower=True, check_finite=False)
            with np.errstate(under="ignore"):
                own = 2.0 * log1pmx(np.diagonal(f)).sum() - (f * f).sum()  # O(b^2): divided by b when per_beta
            logdets = own / (beta if per_beta else 1.0) - k * (2.0 * log1pmx(np.diagonal(e)).sum() - (e * e).sum())
            out[idx] = -0.5 * alpha * k * (y @ y) - 0.5 * logdets
    return out


# --- the closed forms --------------------------------------------------------------------------------------

def kl(p: Gaussian, q: Gaussian) -> np.ndarray:
    """KL(P||Q) = 1/2 [tr(Sq^-1 Sp) - d - log det(Sq^-1 Sp) + (mq - mp)' Sq^-1 (mq - mp)]."""
    _as_pair(p, q)
    if p.dim == 1:
        return _near_kl(p, q)[()]
    m = _solve_lower(q.chol, p.chol)  # Lq^-1 Lp: tr(Sq^-1 Sp) = ||m||_F^2
    value = 0.5 * ((m * m).sum((-2, -1)) - p.dim - 2.0 * _log_diag_ratio(p.chol, q.chol).sum(-1)
                   + _mahalanobis2(q.chol, q.mean - p.mean))
    near = value < NEAR * p.dim
    if not near.any():
        return value
    accurate = _near_kl(p, q)
    return np.where(near & np.isfinite(accurate), accurate, value)[()]


def _log_alpha_integral(p: Gaussian, q: Gaussian, alpha: float, *, per_alpha: bool = False) -> np.ndarray:
    """log int p^a q^(1-a); +inf where S_a = a Sq + (1 - a) Sp is not positive definite:
    -a(1 - a)/2 (mp - mq)' S_a^-1 (mp - mq) - 1/2 [log det S_a - (1 - a) log det Sp - a log det Sq].
    With per_alpha, the value divided by a (for a near 0, without forming the value: it would be subnormal).

    For |a| < 1/2 it is computed as log int q^(1 - a) p^a, the same integral with the roles swapped, so that
    the small parameter enters exactly (as b) and never through 1 - a, which would round it away: at
    a = 1e-12 the direct form has lost four digits, at a = 1e-16 all of them."""
    _as_pair(p, q)
    if abs(alpha) < 0.5:
        return _log_alpha_integral_of(q, p, 1.0 - alpha, alpha, per_alpha)
    value = _log_alpha_integral_of(p, q, alpha, 1.0 - alpha, False)
    return value / alpha if per_alpha else value


def _log_alpha_integral_of(p: Gaussian, q: Gaussian, alpha: float, beta: float, per_beta: bool) -> np.ndarray:
    """log int p^a q^b with a + b = 1 (b exact), divided by b when per_beta."""
    if p.dim == 1:
        return _near_log_alpha_integral(p, q, alpha, beta, per_beta)[()]
    s_cov = alpha * q.cov + beta * p.cov
    shape = np.broadcast_shapes(p.mean.shape[:-1], q.mean.shape[:-1])
    flat = np.broadcast_to(s_cov, shape + s_cov.shape[-2:]).reshape(-1, p.dim, p.dim)
    ok = np.array([_cholesky_or_none(m) is not None for m in flat]).reshape(shape)
    if not ok.any():
        return np.full(shape, np.inf)[()]
    chol = np.linalg.cholesky(np.where(ok[..., None, None], s_cov, np.eye(p.dim)))
    logdets = 2.0 * (_log_diag_ratio(chol, q.chol) - beta * _log_diag_ratio(p.chol, q.chol)).sum(-1)
    value = -0.5 * alpha * beta * _mahalanobis2(chol, p.mean - q.mean) - 0.5 * logdets
    value = np.where(ok, value, np.inf)
    near = ok & (np.abs(value) < NEAR * p.dim * (1.0 + abs(alpha) + abs(beta)))
    if per_beta:
        value = value / beta
    if not near.any():
        return value[()]
    accurate = _near_log_alpha_integral(p, q, alpha, beta, per_beta)
    return np.where(near & np.isfinite(accurate), accurate, value)[()]


def bhattacharyya_distance(p: Gaussian, q: Gaussian) -> np.ndarray:
    """D_B = -log int sqrt(p q) = 1/8 d' S^-1 d + 1/2 log(det S / sqrt(det Sp det Sq)), S = (Sp + Sq)/2;
    BC = exp(-D_B)."""
    return -_log_alpha_integral(p, q, 0.5)


def bhattacharyya_coefficient(p: Gaussian, q: Gaussian) -> np.ndarray:
    return np.exp(-bhattacharyya_distance(p, q))


def squared_hellinger(p: Gaussian, q: Gaussian) -> np.ndarray:
    """int (sqrt p - sqrt q)^2 = 2 (1 - BC) (fdiv's f = (sqrt u - 1)^2), as -2 expm1(-D_B)."""
    return -2.0 * np.expm1(-bhattacharyya_distance(p, q))


def renyi(p: Gaussian, q: Gaussian, alpha: float) -> np.ndarray:
    """Renyi divergence D_alpha(P||Q) = log(int p^a q^(1-a))/(a - 1); +inf when a Sq + (1-a) Sp is not PD."""
    if alpha <= 0 or alpha == 1:
        raise NumericsError(f"renyi: alpha must be positive and not 1, got {alpha}")
    return _log_alpha_integral(p, q, alpha) / (alpha - 1)


def pearson_chi2(p: Gaussian, q: Gaussian) -> np.ndarray:
    """chi^2(P||Q) = int (p - q)^2/q = exp(D_2) - 1, finite iff 2 Sq - Sp is positive definite."""
    with np.errstate(over="ignore"):  # D_2 > 709.78: the value is beyond float64, +inf is the honest answer
        return np.expm1(_log_alpha_integral(p, q, 2.0))


def neyman_chi2(p: Gaussian, q: Gaussian) -> np.ndarray:
    """int (p - q)^2/p = chi^2(Q||P)."""
    return pearson_chi2(q, p)


def alpha_divergence(p: Gaussian, q: Gaussian, alpha: float) -> np.ndarray:
    """fdiv's alpha row, f = (u^a - 1 - a(u - 1))/(a(a - 1)): (int p^a q^(1-a) - 1)/(a(a - 1)).

    With g = log I / a (formed without forming log I, see _log_alpha_integral) and x = a g = log I, the value is
    g expm1(x)/x / (a - 1): no cancellation and no underflow for a down to the smallest normal float, where it
    tends to KL(Q||P); exp(x - log(a(a - 1))) where expm1(x) alone would overflow."""
    if alpha in (0, 1):
        raise NumericsError("alpha_divergence: alpha must not be 0 or 1")
    g = np.asarray(_log_alpha_integral(p, q, alpha, per_alpha=True))
    infinite = ~np.isfinite(g)  # I diverges: only for a < 0 or a > 1, where a(a - 1) > 0
    g = np.where(infinite, 0.0, g)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        x = alpha * g
        small = np.abs(x) < 1e-5
        xs = np.where(small, 1.0, x)
        ratio = np.where(small, 1.0 + x / 2.0 + x * x / 6.0 + x * x * x / 24.0, np.expm1(xs) / xs)
        big = x > 700  # only when a(a - 1) > 0: for 0 < a < 1, I <= 1 (Hoelder)
        value = np.where(big, np.exp(np.where(big, x, 0.0) - math.log(abs(alpha * (alpha - 1)))),
                         g * ratio / (alpha - 1))
    return np.where(infinite, np.inf, value)[()]


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


def _roots(a: float, b: float, c: float) -> list[float]:
    """Real roots of a y^2 + 2 b y + c = 0, without cancellation (and scaled, so b^2 - a c cannot overflow)."""
    scale = max(abs(a), abs(b), abs(c))
    if scale == 0 or not math.isfinite(scale):
        return []
    a, b, c = a / scale, b / scale, c / scale
    if a == 0:
        return [-c / (2 * b)] if b else []
    disc = b * b - a * c
    if disc < 0:
        return []
    t = -(b + math.copysign(math.sqrt(disc), b))
    return sorted([t / a, c / t]) if t else [0.0]


def _tv_1d_one(m1: float, v1: float, m2: float, v2: float) -> float:
    """The densities cross where l = log p - log q = 0; in q's coordinate z = (x - m2)/s2 and p's coordinate
    t = (x - m1)/s1 (z = mu + sr t, r = v1/v2 = 1 + delta, sr = r^(1/2), mu = (m1 - m2)/s2), that is where
    delta t^2 + 2 mu sr t + mu^2 - log r = 0, or (divided by r) (delta/r) z^2 + 2 (mu/r) z - (mu^2/r + log r) = 0.
    The roots are taken in the coordinate of the narrower density (in the other they may round onto each
    other). With F = CDF_p - CDF_q, which is monotone between crossings and vanishes at +-oo, F(z1) and F(z2)
    have opposite signs and TV = |F(z1)| + |F(z2)|, each a difference Phi(t) - Phi(z) with t - z formed exactly."""
    s2 = math.sqrt(v2)
    mu, delta = (m1 - m2) / s2, (v1 - v2) / v2
    if delta == 0:
        return float(special.erf(abs(mu) / (2 * math.sqrt(2))))
    r = v1 / v2
    if not 0 < r < math.inf or abs(mu) > 1e100:
        return 1.0  # disjoint to float precision
    sr = math.sqrt(r)
    log_r = math.log1p(delta) if abs(delta) < 0.5 else math.log(v1) - math.log(v2)
    if r < 1:
        ts = _roots(delta, mu * sr, mu * mu - log_r)
        crossings = [(t, mu + sr * t, -t * delta / (1 + sr) - mu) for t in ts]  # t - z = t (1 - sr) - mu
    else:
        zs = _roots(delta / r, mu / r, -(mu * mu / r + log_r))
        crossings = [((z - mu) / sr, z, -(z * delta / (1 + sr) + mu) / sr) for z in zs]
    return sum(abs(_ndtr_diff(t, z, diff)) for t, z, diff in crossings)


def _tv_1d(m1, v1, m2, v2) -> np.ndarray:
    m1, v1, m2, v2 = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (m1, v1, m2, v2)))
    out = np.empty(m1.shape)
    for idx in np.ndindex(m1.shape):
        out[idx] = _tv_1d_one(float(m1[idx]), float(v1[idx]), float(m2[idx]), float(v2[idx]))
    return out if out.shape else out[()]


def total_variation_bounds(p: Gaussian, q: Gaussian) -> tuple[np.ndarray, np.ndarray]:
    """Bounds for any pair: 1 - BC <= TV <= min(sqrt(1 - BC^2), sqrt(KL/2)) (Hellinger and Pinsker)."""
    d_b = bhattacharyya_distance(p, q)
    upper = np.minimum(np.sqrt(-np.expm1(-2 * d_b)), np.sqrt(kl(p, q) / 2))
    return -np.expm1(-d_b), np.minimum(upper, 1.0)


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
