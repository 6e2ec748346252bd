"""f* next to its zero: a Taylor series where the numeric value t u* - f(u*) cancels.

A numeric branch evaluates f*(t) as t u* - f(u*) (or in an anchored form, (b u* - f(u*)) - c u*). At the zero t0
of f* those terms cancel, and the result keeps an absolute error of a few ulps of them but no relative accuracy:
for an f normalised to f(1) = f'(1) = 0, f*(0) = -min f = 0 came out as -4.9e-15, and f*(1e-12) 0.3 % off. The zero
is where u f'(u) = f(u) (u f' - f increases with u, so a piece has at most one), t0 = f'(u0), and there

    f*(t0 + e) = u0 e + sum_k b_k e^(k+1)/(k+1),   u0 + sum_k b_k e^k the inverse series of f' at u0,

since d f*/dt = u*(t). Within |e| < r (at most 2^-9 (1 + |t0|), and where the first term left out is below
2^-55 of u0 e, with as few terms as that takes) the generated code takes that polynomial (e = t - t0 with t0 in two floats, so e is exact where it matters); outside
r the anchored value's absolute error is a relative one of about ulp/r. The series is checked against t u - f(u)
at the root solved to 50 digits at +-r and +-r/3 before it is used; an f with f''(u0) = 0 (a cusp of the inverse)
or a series that fails the check keeps the plain value.
"""
from __future__ import annotations

from dataclasses import dataclass

import mpmath
import sympy as sp

from ...spec.spec import U

_ORDER = 10  # terms of the series of f' at u0 (b_1 .. b_10): r ~ 1e-2 for the grammar's f's
_DPS = 60


@dataclass(frozen=True)
class ZeroSeries:
    u0: mpmath.mpf
    t0: mpmath.mpf
    coefficients: tuple[float, ...]  # of e, e^2, ..., e^n in f*(t0 + e)
    radius: float


def _inverse_series(c: list) -> list:
    """b_1..b_n with sum_k c_k w^k = e for w = sum_k b_k e^k, to order n = len(c) (c_1 != 0)."""
    n = len(c)
    b = [mpmath.mpf(0)] * (n + 1)
    b[1] = 1 / c[0]
    for m in range(2, n + 1):
        # the coefficient of e^m in sum_k c_k w^k with b_m = 0; c_1 b_m must cancel it
        w = b[:m] + [mpmath.mpf(0)] * (n + 1 - m)
        power, total = w[:], c[0] * w[m]
        for k in range(2, m + 1):
            power = [sum(power[i] * w[j - i] for i in range(j + 1)) for j in range(n + 1)]
            total += c[k - 1] * power[m]
        b[m] = -total / c[0]
    return b[1:]


def zero_series(f: sp.Expr, lo: sp.Expr, hi: sp.Expr, slope_lo: sp.Expr, slope_hi: sp.Expr) -> ZeroSeries | None:
    """The series of f* at its zero on the piece u in (lo, hi) of f, whose slopes run over (slope_lo, slope_hi);
    None where f* has no zero there, f''(u0) = 0, or the series fails its check."""
    from ...derivation.numeric import mp_function

    fm, dfm = mp_function(f, U), mp_function(sp.diff(f, U), U)
    with mpmath.workdps(_DPS):
        try:
            return _series(fm, dfm, *(mpmath.mpf(sp.N(e, _DPS)) if e.is_finite else None
                                      for e in (lo, hi, slope_lo, slope_hi)))
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            return None


def _series(fm, dfm, lo, hi, slope_lo, slope_hi) -> ZeroSeries | None:
    mp = mpmath

    def u_of(y):  # the piece's u from an unbounded y, as its solver maps it
        if hi is not None:
            return (lo or 0) + (hi - (lo or 0)) / (1 + mp.exp(-y))
        return (lo or 0) + mp.exp(y)

    def g(y):  # u f'(u) - f(u), increasing in u
        u = u_of(y)
        value = u * dfm(u) - fm(u)
        if isinstance(value, mp.mpc):
            raise ValueError("complex")
        return value

    a, b = mp.mpf(-60), mp.mpf(60)
    ga, gb = g(a), g(b)
    if not (ga < 0 < gb):
        return None
    for _ in range(400):  # bisection: g may be flat or steep, and 400 halvings of 120 reach 60 digits
        m = (a + b) / 2
        if g(m) < 0:
            a = m
        else:
            b = m
        if b - a < mp.mpf(10) ** (-_DPS + 5):
            break
    u0 = u_of((a + b) / 2)
    u0, t0 = _snapped(fm, dfm, u0, lo, hi)
    taylor = mp.taylor(fm, u0, _ORDER + 1)  # f(u0 + w) = sum_j a_j w^j
    c = [(j + 1) * taylor[j + 1] for j in range(1, _ORDER + 1)]  # f'(u0 + w) - t0 = sum_k c_k w^k
    if not c[0] > mp.mpf(10) ** -30 * (1 + abs(u0) + abs(t0)):
        return None  # f''(u0) = 0: the inverse has a cusp there
    bs = _inverse_series(c)
    radius = (mp.mpf(2) ** -55 * abs(u0) * (_ORDER + 1) / max(abs(bs[-1]), mp.mpf(10) ** -300)) ** (mp.mpf(1) / _ORDER)
    # no wider than needed: 2^-9 (1 + |t0|) leaves the plain value's few ulps of its terms ~1e-12 of f* outside,
    # and inside it costs a gather and a polynomial per element (r = 0.27 for a GAN-family f took 7 % of
    # N(0, 9) logits there, 25 % of its loss's time)
    radius = min(radius, mp.mpf(2) ** -9 * (1 + abs(t0)))
    for end in (slope_lo, slope_hi):  # inside the piece's slope range, with room for the anchored distances
        if end is not None:
            radius = min(radius, abs(t0 - end) / 2)
    # the fewest terms that reach float64 within r: the first left out, b_n e^(n+1)/(n+1), below 2^-55 u0 e
    n = next((k for k in range(2, _ORDER + 1)
              if abs(bs[k - 1]) * radius ** k / (k + 1) <= mp.mpf(2) ** -55 * abs(u0)), _ORDER)
    coefficients = [u0] + [bs[k] / (k + 2) for k in range(n - 1)]  # of e^1 .. e^n; b_n left out
    for _ in range(6):
        if _check(fm, dfm, u0, t0, coefficients, radius):
            return ZeroSeries(u0, t0, tuple(float(x) for x in coefficients), float(radius))
        radius /= 4
    return None


def _snapped(fm, dfm, u0, lo, hi):
    """(u0, t0 = f'(u0)), with u0 = 1 where the zero is there to 200 digits (f normalised to f(1) = 0 with f'(1) = 0
    or with any f'(1) = f(1)), and t0 = 0 where f'(1) vanishes to them: the usual f has f*(0) = 0 exactly, and a t0
    of 1e-57 would turn that 0 into -1e-57."""
    mp = mpmath
    if abs(u0 - 1) < mp.mpf(10) ** -20 and (lo is None or lo < 1) and (hi is None or hi > 1):
        with mp.workdps(200):
            one = mp.mpf(1)
            t1 = dfm(one)
            if abs(t1 - fm(one)) < mp.mpf(10) ** -150:
                return one, (mp.mpf(0) if abs(t1) < mp.mpf(10) ** -150 else +t1)
    return u0, dfm(u0)


def _check(fm, dfm, u0, t0, coefficients, radius) -> bool:
    """The series against t u - f(u) at the root of f'(u) = t, solved at 60 digits, at e = +-r, +-r/3."""
    mp = mpmath
    for e in (radius, -radius, radius / 3, -radius / 3):
        t = t0 + e
        u = mp.findroot(lambda w: dfm(w) - t, u0)
        exact = t * u - fm(u)
        series = sum(a * e ** (k + 1) for k, a in enumerate(coefficients))
        if not abs(series - exact) <= mp.mpf(2) ** -54 * abs(exact):
            return False
    return True


def split(x) -> tuple[float, float]:
    """x as hi + lo, two floats."""
    hi = float(x)
    return hi, float(x - mpmath.mpf(hi))


def zero_source(name: str, zs: ZeroSeries) -> list[str]:
    """`{name}_near(value, t)`: a numeric piece's value f*(t), or its series where t is within r of t0."""
    t_hi, t_lo = split(zs.t0)
    r = mpmath.mpf(zs.radius)
    with mpmath.workdps(_DPS):
        bounds = (float(zs.t0 - r), float(zs.t0 + r))
    # t - t0 with t0 in two floats: exact where t is next to t0 (Sterbenz), 0 at t = t0
    delta = "t" if t_hi == 0 else f"(t - {t_hi!r})" if t_hi > 0 else f"(t + {-t_hi!r})"
    delta += "" if t_lo == 0 else f" - {t_lo!r}" if t_lo > 0 else f" + {-t_lo!r}"
    return [f"def {name}_near(value, t):",
            f'    """f*(t), but within {zs.radius:.3g} of its zero t0 = {float(zs.t0)!r} (u* = {float(zs.u0)!r}), where '
            "t u* - f(u*)",
            '    cancels, its Taylor series in t - t0 (fdiv.codegen.lower.zero)."""',
            f"    return _series_near(value, t, {bounds[0]!r}, {bounds[1]!r}, lambda t: {delta}, "
            f"{tuple(zs.coefficients)!r})"]
