"""Variational bounds and GAN values between 1-D Gaussians by quadrature, error-aware.

bound(T) = E_P[T] - E_Q[f*(T)] <= D_f(P||Q) for every critic T, with equality at T* = f'(p/q);
GAN: V(D) = E_P log D + E_Q log(1 - D) <= V(D*) = 2 JSD - log 4 with D* = p/(p + q).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import mpmath
import numpy as np
import sympy as sp
from scipy import integrate, special

from fdiv.conjugate import T
from fdiv.derive import Derivation

from .generator import derivation
from .quadrature import Estimate, _check


def _normal_pdf(mean: float, var: float) -> Callable[[float], float]:
    s = math.sqrt(var)
    return lambda x: math.exp(-0.5 * ((x - mean) / s) ** 2) / (s * math.sqrt(2 * math.pi))


def _expect(fn: Callable[[float], object], mean: float, var: float, breaks=()) -> tuple[float, float, bool]:
    """E[fn(X)], X ~ N(mean, var), by adaptive quadrature over +-40 sd plus the tails, split at `breaks`
    (points where fn may jump). fn may return an mpmath number where its value leaves the float range (a
    critic T* = f'(p/q) far in a tail); density and value are then multiplied in mpmath. The flag says whether
    QUADPACK could not meet its tolerance on some piece (see _quad)."""
    pdf = _normal_pdf(mean, var)
    s = math.sqrt(var)
    total, error, flagged = 0.0, 0.0, False
    log_norm = -0.5 * math.log(2 * math.pi * var)
    for a, b in ((-np.inf, mean - 40 * s), (mean - 40 * s, mean + 40 * s), (mean + 40 * s, np.inf)):
        def integrand(x):
            value = fn(x)
            if isinstance(value, float) and math.isinf(value):
                return value
            if isinstance(value, float) and math.isfinite(value):
                density = pdf(x)
                if density > 1e-280 or value == 0.0:
                    return density * value
            with mpmath.workdps(30):
                weighted = mpmath.exp(log_norm - 0.5 * ((x - mean) / s) ** 2) * mpmath.mpf(value)
                return float(weighted)

        inner = sorted({mean, *(x for x in breaks if a < x < b)})
        v, e, bad = _quad(integrand, a, b, inner if np.isfinite(a) and np.isfinite(b) else None)
        total, error, flagged = total + v, error + e, flagged or bad
    return total, error, flagged


def _quad(integrand: Callable[[float], float], a: float, b: float, points) -> tuple[float, float, bool]:
    """QUADPACK at 1e-12 relative. Where it reports that it could not meet that (roundoff detected, the
    subdivision limit reached: its error estimate may then be too small), the integral is redone at 1e-10,
    which it usually meets; if that run is flagged too, the error is at least the two runs' difference and the
    result is flagged (the Estimate's method says so), never a warning."""
    v, e, _, *flagged = integrate.quad(integrand, a, b, epsabs=1e-300, epsrel=1e-12, limit=400, points=points,
                                       full_output=1)
    if not flagged:
        return v, e, False
    v2, e2, _, *flagged2 = integrate.quad(integrand, a, b, epsabs=1e-300, epsrel=1e-10, limit=400, points=points,
                                          full_output=1)
    if not flagged2:
        return v2, e2, False
    return v2, max(e, e2, abs(v - v2)), True


def _estimate(value: float, error: float, flagged: bool) -> Estimate:
    return Estimate(value, error, "quadrature (QUADPACK missed its tolerance on a piece: the error is the larger "
                                  "of its estimates and two runs' difference)" if flagged else "quadrature")


def variational_bound(spec: str | Derivation, critic, p: tuple[float, float], q: tuple[float, float],
                      *, breaks=(), **params) -> Estimate:
    """E_P[T] - E_Q[f*(T)] for a critic: a scalar function T(x) (f* evaluated from the derived formula), or a
    critics.OneDimCritic that carries f*(T(x)) composed symbolically and the points where T jumps."""
    from .critics import OneDimCritic

    d = derivation(spec, **params)
    (mp, vp), (mq, vq) = _check(*p, "p"), _check(*q, "q")
    if isinstance(critic, OneDimCritic):
        t_fn, f_star, breaks = critic.critic, critic.conjugate_of_critic, critic.breaks
    else:
        conj = sp.lambdify(T, d.conjugate, ["scipy", "numpy"])
        upper = float(d.conjugate_domain.upper)
        t_fn = critic

        def f_star(x):
            t = float(critic(x))
            if t > upper or (t == upper and not d.conjugate_domain.upper_closed):
                return math.inf
            with np.errstate(all="ignore"):
                return float(np.real(conj(t)))

    ep, ee, e_bad = _expect(t_fn, mp, vp, breaks)
    fq, fe, f_bad = _expect(f_star, mq, vq, breaks)
    return _estimate(ep - fq, ee + fe, e_bad or f_bad)


def gan_value(logit: Callable[[float], float], p: tuple[float, float], q: tuple[float, float]) -> Estimate:
    """V(D) = E_P log D + E_Q log(1 - D) for D = sigmoid(logit(x)), computed from the logit:
    log D = -softplus(-v), log(1 - D) = -softplus(v) (no log 0 where D rounds to 0 or 1)."""
    (mp, vp), (mq, vq) = _check(*p, "p"), _check(*q, "q")
    a, ae, a_bad = _expect(lambda x: -float(np.logaddexp(0.0, -logit(x))), mp, vp)
    b, be, b_bad = _expect(lambda x: -float(np.logaddexp(0.0, logit(x))), mq, vq)
    return _estimate(a + b, ae + be, a_bad or b_bad)


def optimal_logit(p: tuple[float, float], q: tuple[float, float]) -> Callable[[float], float]:
    """The optimal discriminator's logit, log p(x) - log q(x): D* = sigmoid(it) = p/(p + q)."""
    (m1, v1), (m2, v2) = _check(*p, "p"), _check(*q, "q")
    return lambda x: -0.5 * (x - m1) ** 2 / v1 + 0.5 * (x - m2) ** 2 / v2 + 0.5 * math.log(v2 / v1)


def optimal_discriminator(p: tuple[float, float], q: tuple[float, float]) -> Callable[[float], float]:
    """D*(x) = p/(p + q) = sigmoid(log p - log q), evaluated stably through the log-ratio."""
    logit = optimal_logit(p, q)
    return lambda x: float(special.expit(logit(x)))
