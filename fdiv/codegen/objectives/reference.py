"""The f-DPO losses evaluated exactly (mpmath), from f' itself: the reference that generated modules, and
users' own preference losses, are compared with.

For g(r) = f'(e^r) (r = log pi - log pi_ref), m = beta (g(a) - g(b)):

    L(a, b)     = -log sigmoid(m) = softplus(-m)
    dL/da       = -beta sigmoid(-m) g'(a),     dL/db = beta sigmoid(-m) g'(b)
    reward(r)   = beta g(r),                   d reward/dr = beta g'(r)

each with its condition term: the change of the value under one rounding of each input log-ratio,
sum_i |d value/d r_i| |r_i| (first order). No implementation that forms r = logp - logp_ref in floating point
can be more accurate than that, so comparisons allow it (`tolerance`).

Values beyond any float come back as mpmath numbers all the same; products whose logarithm is below -1e6 are
returned as 0 (they underflow in every float format) rather than evaluated.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import mpmath
import sympy as sp

from ...spec.spec import U
from .terms import R

DPS = 60  # digits; `confirm` repeats at DPS + 20
_FAR = mpmath.mpf(10) ** 6  # |log| beyond this: 0 or inf in every float format


def _exp(x):
    if x < -_FAR:
        return mpmath.mpf(0)
    if x > _FAR:
        return mpmath.inf
    return mpmath.exp(x)


def _softplus(x):
    """log(1 + e^x), also where e^x is beyond any exponent."""
    if x > _FAR:
        return x
    if x < -_FAR:
        return mpmath.mpf(0)
    return mpmath.log1p(mpmath.exp(x))


@dataclass(frozen=True)
class Point:
    value: mpmath.mpf
    condition: mpmath.mpf  # sum |d value / d r_i| |r_i|


@dataclass
class Exact:
    """The exact f-DPO quantities for one f'(u) (a SymPy expression in u with numeric parameters)."""
    f_prime: sp.Expr

    @cached_property
    def _functions(self):
        g = self.f_prime.subs(U, sp.exp(R))
        dg = sp.diff(g, R)
        d2g = sp.diff(dg, R)
        return tuple(sp.lambdify(R, e, modules="mpmath") for e in (g, dg, d2g))

    def g(self, r, order: int = 0):
        return self._functions[order](mpmath.mpf(r))

    def reward(self, r: float, beta: float) -> tuple[Point, Point]:
        """(beta g(r), beta g'(r)), each with its condition term."""
        r, beta = mpmath.mpf(r), mpmath.mpf(beta)
        g, g1, g2 = (self.g(r, k) for k in range(3))
        return Point(beta * g, abs(beta * g1 * r)), Point(beta * g1, abs(beta * g2 * r))

    def loss(self, a: float, b: float, beta: float) -> tuple[Point, Point, Point]:
        """(L, dL/da, dL/db) at log-ratios a (chosen), b (rejected), each with its condition term."""
        a, b, beta = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(beta)
        ga, g1a, g2a = (self.g(a, k) for k in range(3))
        gb, g1b, g2b = (self.g(b, k) for k in range(3))
        m = beta * (ga - gb)
        log_sn, log_sp = -_softplus(m), -_softplus(-m)  # log sigmoid(-m), log sigmoid(m)
        sn = _exp(log_sn)
        snsp = _exp(log_sn + log_sp)  # sigmoid(-m) sigmoid(m)

        def times(log_s, x):  # exp(log_s) * x without evaluating a product whose log is beyond -1e6
            if x == 0:
                return mpmath.mpf(0)
            return mpmath.sign(x) * _exp(log_s + mpmath.log(abs(x)))

        value = _softplus(-m)
        da = -times(log_sn, beta * g1a)
        db = times(log_sn, beta * g1b)
        # second derivatives: d2L/da2 = beta^2 s(-m) s(m) g'(a)^2 - beta s(-m) g''(a), and so on
        daa = times(log_sn + log_sp, (beta * g1a) ** 2) - times(log_sn, beta * g2a)
        dbb = times(log_sn + log_sp, (beta * g1b) ** 2) + times(log_sn, beta * g2b)
        dab = -times(log_sn + log_sp, beta**2 * g1a * g1b)
        del sn, snsp
        return (Point(value, abs(da * a) + abs(db * b)),
                Point(da, abs(daa * a) + abs(dab * b)),
                Point(db, abs(dab * a) + abs(dbb * b)))


def exact(f_prime: sp.Expr) -> Exact:
    return Exact(f_prime)


def tolerance(point: Point, dtype_eps: float, rtol: float) -> mpmath.mpf:
    """|computed - exact| allowed: rtol (|exact| + condition), plus 10 ulps of 1 when that scale is below 1
    (values next to 0 are compared absolutely, as fdiv.testing.losses.TOLERANCE_RULE does for losses)."""
    scale = abs(point.value) + point.condition
    return rtol * scale + (10 * dtype_eps if scale < 1 else 0)
