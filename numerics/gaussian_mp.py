"""The 1-D Gaussian closed forms in mpmath, at whatever precision makes them exact to 30 digits: the reference
behind the error bars of closed-form values (numerics.closed_forms.divergence, `fdiv gauss`).

Each form is the textbook formula, written directly (no cancellation-avoiding rewrites: precision does that
job here). The inputs are float64 numbers, so they are exact in mpmath; the formula is evaluated from a
precision at which every input is exact (start_digits), doubling it until two successive precisions agree to
10^-30 relative, and the later value is returned with the difference as its error. Cancellations of any depth (alpha = 1e-300 against 1, variances equal to
the last bit, means 1e300 apart in units of a 1e-300 standard deviation) cost digits, never correctness; a
form that does not settle by MAX_DPS digits gives None, and the caller says so.
"""
from __future__ import annotations

from collections.abc import Callable

import mpmath

MAX_DPS = 3200
_AGREE = mpmath.mpf(10) ** -30


def start_digits(*inputs) -> int:
    """Where to start: 50 digits more than twice the largest decimal exponent among the inputs, so that every
    input, and 1 - a for the smallest a, is exact there (two precisions that both dropped a tiny term would
    agree with each other, and agree wrongly)."""
    exponents = [abs(mpmath.log10(abs(mpmath.mpf(x)))) for x in inputs if x]
    return 50 + 2 * int(max(exponents, default=0))


def settled(form: Callable[[], object], *inputs) -> tuple[object, object] | None:
    """(value, error bound) of form() evaluated at doubling precisions, from start_digits(*inputs), until two
    agree; None if they never do by MAX_DPS digits. form() reads its inputs at the current precision; +inf is
    a value."""
    previous, dps = None, start_digits(*inputs)
    while dps <= MAX_DPS:
        with mpmath.workdps(dps):
            value = form()
        if previous is not None:
            if mpmath.isinf(value) or mpmath.isinf(previous):
                if value == previous:
                    return value, mpmath.mpf(0)
            else:
                gap = abs(value - previous)
                if gap <= _AGREE * abs(value) or value == previous:
                    return value, gap
        previous, dps = value, 2 * dps
    return None


def log_alpha_integral(m1: float, v1: float, m2: float, v2: float, a) -> object:
    """log int p^a q^(1 - a) for p = N(m1, v1), q = N(m2, v2); +inf where a v2 + (1 - a) v1 <= 0."""
    a = mpmath.mpf(a)
    s = a * v2 + (1 - a) * v1
    if s <= 0:
        return mpmath.inf
    d = mpmath.mpf(m1) - mpmath.mpf(m2)
    return -a * (1 - a) * d * d / (2 * s) - (mpmath.log(s) - (1 - a) * mpmath.log(v1) - a * mpmath.log(v2)) / 2


def kl(m1: float, v1: float, m2: float, v2: float) -> object:
    r = mpmath.mpf(v1) / v2
    d = mpmath.mpf(m1) - mpmath.mpf(m2)
    return (r - 1 - mpmath.log(r) + d * d / v2) / 2


def alpha_divergence(m1, v1, m2, v2, a) -> object:
    a = mpmath.mpf(a)
    log_i = log_alpha_integral(m1, v1, m2, v2, a)
    return mpmath.inf if mpmath.isinf(log_i) else mpmath.expm1(log_i) / (a * (a - 1))


def total_variation(m1, v1, m2, v2) -> object:
    """1/2 int |p - q|: for equal variances erf(|m1 - m2| / (2 sqrt(2 v))); else |(P - Q)(x1, x2)| between
    the two points where the densities cross, the roots of log p = log q (a quadratic in x)."""
    m1, v1, m2, v2 = (mpmath.mpf(x) for x in (m1, v1, m2, v2))
    if v1 == v2:
        return mpmath.erf(abs(m1 - m2) / (2 * mpmath.sqrt(2 * v1)))
    a = 1 / (2 * v2) - 1 / (2 * v1)
    b = m1 / v1 - m2 / v2
    c = m2 * m2 / (2 * v2) - m1 * m1 / (2 * v1) + mpmath.log(v2 / v1) / 2
    disc = b * b - 4 * a * c
    root = mpmath.sqrt(disc)
    x1, x2 = sorted(((-b - root) / (2 * a), (-b + root) / (2 * a)))
    s1, s2 = mpmath.sqrt(v1), mpmath.sqrt(v2)
    p_mass = mpmath.ncdf(x2, m1, s1) - mpmath.ncdf(x1, m1, s1)
    q_mass = mpmath.ncdf(x2, m2, s2) - mpmath.ncdf(x1, m2, s2)
    return abs(p_mass - q_mass)


def number(value) -> object:
    """An exact SymPy parameter (1/3, 10^-12) as an mpf at the current precision."""
    import sympy as sp

    return sp.Float(value, mpmath.mp.dps + 10)._to_mpmath(mpmath.mp.prec + 40)


def _neg_expm1(x):
    return -mpmath.expm1(x)


#: catalogue name -> (m1, v1, m2, v2, params) -> value, for the names numerics.closed_forms registers.
FORMS: dict[str, Callable] = {
    "kl": lambda m1, v1, m2, v2, k: kl(m1, v1, m2, v2),
    "reverse-kl": lambda m1, v1, m2, v2, k: kl(m2, v2, m1, v1),
    "jeffrey": lambda m1, v1, m2, v2, k: kl(m1, v1, m2, v2) + kl(m2, v2, m1, v1),
    "pearson": lambda m1, v1, m2, v2, k: _expm1_or_inf(log_alpha_integral(m1, v1, m2, v2, 2)),
    "neyman": lambda m1, v1, m2, v2, k: _expm1_or_inf(log_alpha_integral(m2, v2, m1, v1, 2)),
    "squared-hellinger": lambda m1, v1, m2, v2, k: 2 * _neg_expm1(log_alpha_integral(m1, v1, m2, v2, mpmath.mpf(1) / 2)),
    "total-variation": lambda m1, v1, m2, v2, k: total_variation(m1, v1, m2, v2),
    "alpha": lambda m1, v1, m2, v2, k: alpha_divergence(m1, v1, m2, v2, number(k["alpha"])),
}
FORMS["kl-normalised"] = FORMS["kl"]
FORMS["reverse-kl-normalised"] = FORMS["reverse-kl"]


def _expm1_or_inf(log_i):
    return mpmath.inf if mpmath.isinf(log_i) else mpmath.expm1(log_i)
