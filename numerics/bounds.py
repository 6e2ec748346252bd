"""Variational bounds and GAN values between 1-D Gaussians by quadrature, error-aware.

bound(T) = E_P[T] - E_Q[f*(T)] <= D_f(P||Q) for every critic T, with equality at T* = f'(p/q);
GAN: V(D) = E_P log D + E_Q log(1 - D) <= V(D*) = 2 JSD - log 4 with D* = p/(p + q).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import sympy as sp
from scipy import integrate, special

import fdiv
from fdiv.conjugate import T

from .quadrature import Estimate, _check


def _normal_pdf(mean: float, var: float) -> Callable[[float], float]:
    s = math.sqrt(var)
    return lambda x: math.exp(-0.5 * ((x - mean) / s) ** 2) / (s * math.sqrt(2 * math.pi))


def _expect(fn: Callable[[float], float], mean: float, var: float) -> tuple[float, float]:
    """E[fn(X)], X ~ N(mean, var), by adaptive quadrature over +-40 sd plus the tails."""
    pdf = _normal_pdf(mean, var)
    s = math.sqrt(var)
    total, error = 0.0, 0.0
    for a, b in ((-np.inf, mean - 40 * s), (mean - 40 * s, mean + 40 * s), (mean + 40 * s, np.inf)):
        def integrand(x):
            density = pdf(x)
            return 0.0 if density == 0.0 else density * fn(x)

        v, e = integrate.quad(integrand, a, b, epsabs=1e-300, epsrel=1e-12, limit=400,
                              points=[mean] if np.isfinite(a) and np.isfinite(b) else None)
        total, error = total + v, error + e
    return total, error


def variational_bound(spec: str | fdiv.Derivation, critic: Callable[[float], float], p: tuple[float, float],
                      q: tuple[float, float], **params) -> Estimate:
    """E_P[T] - E_Q[f*(T)] for a scalar critic T(x); +inf-safe: a critic outside dom f* gives -inf."""
    d = spec if isinstance(spec, fdiv.Derivation) else fdiv.derive(spec, **params)
    conj = sp.lambdify(T, d.conjugate, ["scipy", "numpy"])
    (mp, vp), (mq, vq) = _check(*p, "p"), _check(*q, "q")
    upper = float(d.conjugate_domain.upper)

    def f_star(x):
        t = float(critic(x))
        if t > upper or (t == upper and not d.conjugate_domain.upper_closed):
            return math.inf
        with np.errstate(all="ignore"):
            return float(np.real(conj(t)))

    ep, ee = _expect(lambda x: float(critic(x)), mp, vp)
    fq, fe = _expect(f_star, mq, vq)
    return Estimate(ep - fq, ee + fe, "quadrature")


def gan_value(discriminator: Callable[[float], float], p: tuple[float, float], q: tuple[float, float]) -> Estimate:
    """V(D) = E_P log D + E_Q log(1 - D) for D : R -> (0, 1)."""
    (mp, vp), (mq, vq) = _check(*p, "p"), _check(*q, "q")
    a, ae = _expect(lambda x: math.log(discriminator(x)), mp, vp)
    b, be = _expect(lambda x: math.log1p(-discriminator(x)), mq, vq)
    return Estimate(a + b, ae + be, "quadrature")


def optimal_discriminator(p: tuple[float, float], q: tuple[float, float]) -> Callable[[float], float]:
    """D*(x) = p/(p + q) = sigmoid(log p - log q), evaluated stably through the log-ratio."""
    (m1, v1), (m2, v2) = _check(*p, "p"), _check(*q, "q")

    def d_star(x: float) -> float:
        ell = -0.5 * (x - m1) ** 2 / v1 + 0.5 * (x - m2) ** 2 / v2 + 0.5 * math.log(v2 / v1)
        return float(special.expit(ell))

    return d_star
