"""D_f(P||Q) = int q f(p/q) between two 1-D Gaussians by quadrature, with an error estimate.

The integrand is computed in log space: l(x) = log p(x) - log q(x) is a quadratic, u = exp(l). fdiv's f is
shifted first to g(u) = f(u) - f(1) - f'(1)(u - 1) (D_f = int q g + f(1), since int q (u - 1) = 0), so by
convexity the integrand is >= 0 and does not cancel where p ~ q. Finiteness is decided before integrating, from the tails: the log-integrand of a
Gaussian pair is asymptotically quadratic, so it either falls off (finite) or does not (+inf).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp
from scipy import integrate

import fdiv
from fdiv.spec import U

from .errors import NumericsError


@dataclass(frozen=True)
class Estimate:
    value: float  # +inf when the divergence is infinite
    abs_error: float
    method: str

    def to_json(self) -> dict:
        return {"value": "inf" if math.isinf(self.value) else self.value, "method": self.method,
                "abs_error": self.abs_error}


def generator(spec: str | fdiv.Derivation, **params) -> fdiv.Derivation:
    """The derivation of a catalogue name or an expression in u (a Derivation passes through)."""
    return spec if isinstance(spec, fdiv.Derivation) else fdiv.derive(spec, **params)


def _check(mean, var, name):
    mean, var = float(mean), float(var)
    if not (math.isfinite(mean) and math.isfinite(var)):
        raise NumericsError(f"{name}: mean and variance must be finite")
    if var <= 0:
        raise NumericsError(f"{name}: variance must be positive, got {var}")
    return mean, var


class _Pair:
    """log p - log q = a x^2 + b x + c, and log q, for p = N(m1, v1), q = N(m2, v2)."""

    def __init__(self, p, q):
        self.m1, self.v1 = _check(*p, "p")
        self.m2, self.v2 = _check(*q, "q")
        self.a = 0.5 / self.v2 - 0.5 / self.v1
        self.b = self.m1 / self.v1 - self.m2 / self.v2
        self.c = 0.5 * (self.m2**2 / self.v2 - self.m1**2 / self.v1) + 0.5 * math.log(self.v2 / self.v1)
        self.centre = 0.5 * (self.m1 + self.m2)
        self.scale = math.sqrt(max(self.v1, self.v2))


def f_divergence(spec, p: tuple[float, float], q: tuple[float, float], *, high_precision: bool = False,
                 dps: int = 30, **params) -> Estimate:
    """D_f(P||Q) for p = (mean, variance), q = (mean, variance); scipy's adaptive quadrature by default,
    mpmath's tanh-sinh at `dps` digits with high_precision=True."""
    d = generator(spec, **params)
    g = d.f - d.f_at_one - d.f_prime_at_one * (U - 1)
    shift = float(d.f_at_one)
    pair = _Pair(p, q)
    pair.breaks = _kink_points(pair, [float(b.ratio) for b in d.branches if b.kind == "kink"])
    g_mp = sp.lambdify(U, g, "mpmath")
    if not _finite(pair, g_mp):
        return Estimate(math.inf, 0.0, "quadrature")
    est = _mpmath_quad(pair, g_mp, dps) if high_precision else _scipy_quad(pair, sp.lambdify(U, g, "numpy"), g_mp)
    return Estimate(est.value + shift, est.abs_error, est.method)


def _kink_points(pair: _Pair, kinks: list[float]) -> list[float]:
    """The x where p/q equals a kink c of f: roots of a x^2 + b x + c0 = log c (the integrand bends there)."""
    xs = []
    for k in kinks:
        a, b, c = pair.a, pair.b, pair.c - math.log(k)
        if a == 0:
            xs += [-c / b] if b else []
            continue
        disc = b * b - 4 * a * c
        if disc >= 0:
            r = math.sqrt(disc)
            xs += [(-b - r) / (2 * a), (-b + r) / (2 * a)]
    return sorted(xs)


def _log_integrand_mp(pair: _Pair, g_mp, x):
    x = mpmath.mpf(x)
    ell = pair.a * x * x + pair.b * x + pair.c
    log_q = -0.5 * (x - pair.m2) ** 2 / pair.v2 - 0.5 * mpmath.log(2 * mpmath.pi * pair.v2)
    value = g_mp(mpmath.exp(ell))
    if isinstance(value, mpmath.mpc):
        value = value.real
    return log_q + (mpmath.log(value) if value > 0 else -mpmath.inf)


def _finite(pair: _Pair, g_mp) -> bool:
    """Both tails fall off: the log-integrand drops by > 10 between R and 2R standard deviations beyond the
    outer mean, R = 50, 100."""
    for side in (-1, 1):
        edge = max(pair.m1, pair.m2) if side > 0 else min(pair.m1, pair.m2)  # probe beyond both means
        xs = [edge + side * r * pair.scale for r in (50, 100, 200)]
        # g(u) ~ l^2 near u = 1 is computed with cancellation: carry 2 |log10 l| digits more than the 40 used
        smallest = min(abs(pair.a * x * x + pair.b * x + pair.c) for x in xs)
        extra = 0 if smallest == 0 or smallest > 1e-5 else min(int(-2 * math.log10(smallest)) + 10, 800)
        with mpmath.workdps(40 + extra):
            logs = [_log_integrand_mp(pair, g_mp, x) for x in xs]
            if logs[2] == -mpmath.inf:  # the integrand vanishes there (p = q, or g = 0 on that side)
                continue
            if not (logs[1] < logs[0] - 10 and logs[2] < logs[1] - 10):
                return False
    return True


def _scipy_quad(pair: _Pair, g_np, g_mp) -> Estimate:
    def integrand(x: float) -> float:
        ell = pair.a * x * x + pair.b * x + pair.c
        log_q = -0.5 * (x - pair.m2) ** 2 / pair.v2 - 0.5 * math.log(2 * math.pi * pair.v2)
        if -700 < ell < 700 and log_q > -740:
            try:
                with np.errstate(all="ignore"):
                    value = math.exp(log_q) * float(g_np(math.exp(ell)))
            except (OverflowError, ZeroDivisionError, ValueError):
                value = math.nan
            if math.isfinite(value):
                return value
        return float(mpmath.exp(_log_integrand_mp(pair, g_mp, x)))  # the far tails, where floats over/underflow

    lo = min(pair.m1, pair.m2) - 12 * pair.scale
    hi = max(pair.m1, pair.m2) + 12 * pair.scale
    points = sorted({pair.m1, pair.m2, pair.centre, *(x for x in pair.breaks if lo < x < hi)})
    total, error = 0.0, 0.0
    for a, b in ((-np.inf, lo), (hi, np.inf)):
        v, e = integrate.quad(integrand, a, b, epsabs=1e-300, epsrel=1e-13, limit=200)
        total, error = total + v, error + e
    v, e = integrate.quad(integrand, lo, hi, points=points, epsabs=1e-300, epsrel=1e-13, limit=400)
    return Estimate(total + v, error + e, "quadrature")


def _mpmath_quad(pair: _Pair, g_mp, dps: int) -> Estimate:
    with mpmath.workdps(dps + 10):
        def integrand(x):
            return mpmath.exp(_log_integrand_mp(pair, g_mp, x))

        pts = [-mpmath.inf] + sorted({mpmath.mpf(x) for x in (pair.m1, pair.m2, *pair.breaks)}) + [mpmath.inf]
        value, error = mpmath.quad(integrand, pts, error=True, maxdegree=10)
        return Estimate(float(value), float(error), f"quadrature (mpmath, {dps} digits)")
