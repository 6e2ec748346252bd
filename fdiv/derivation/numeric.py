"""High-precision numeric evaluation (mpmath), the labelled second line behind symbolic checks."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import mpmath
import sympy as sp

DPS = 30  # working digits of every numeric check
EVALUATION_SECONDS = 2.0  # CPU seconds one high-precision evaluation may take before it counts as undefined

# Values given to symbolic parameters (e.g. beta > 0 in alpha = 1 + beta) by numeric evaluations; symbolic steps
# never see them. Set by derive() for a symbolic parameter range, and named in the checks' reports.
_SAMPLE: dict[sp.Symbol, sp.Expr] = {}


@contextmanager
def parameter_sample(values: dict[sp.Symbol, sp.Expr]) -> Iterator[None]:
    saved = dict(_SAMPLE)
    _SAMPLE.update(values)
    try:
        yield
    finally:
        _SAMPLE.clear()
        _SAMPLE.update(saved)


def numeric_form(expr):
    """expr with symbolic parameters replaced by their sample values (unchanged when there are none)."""
    return expr.xreplace(_SAMPLE) if _SAMPLE and isinstance(expr, sp.Basic) else expr


def mp_function(expr: sp.Expr, var: sp.Symbol) -> Callable[[object], object]:
    """expr as an mpmath function of var (evaluated at the caller's mpmath precision).

    Numeric conjugate branches (fdiv.inverse) become implemented functions that solve f'(u) = t."""
    from .inverse import NUMERIC_FUNCTIONS, mp_implementation

    expr = numeric_form(expr)
    if isinstance(expr, sp.Basic) and expr.has(*NUMERIC_FUNCTIONS):
        from sympy.utilities.lambdify import implemented_function

        nodes = sorted(expr.atoms(*NUMERIC_FUNCTIONS), key=sp.count_ops, reverse=True)
        for k, node in enumerate(nodes):
            fn = implemented_function(f"_numeric_branch_{k}", mp_implementation(node))
            expr = expr.xreplace({node: fn(node.args[0])})
    return sp.lambdify(var, expr, modules=[{"exp": mp_exp}, "mpmath"])


#: Below this, e^x is taken as 0: mpmath takes minutes on e^(-u/2) at u = e^20000 (an f with e^(-u/2) beside GAN
#: terms, whose u* at v = 1e4 is e^20000), and no float input reaches it otherwise (t <= 1.8e308: Jeffrey's
#: 1/W(e^(1 - t)) needs e^(1 - t) exactly at t = 2^30, far above the floor).
_EXP_FLOOR = -mpmath.mpf(10) ** 400


def mp_exp(x):
    """mpmath.exp, 0 below _EXP_FLOOR; past 2^30 by range reduction (_exp_reduced)."""
    if isinstance(x, mpmath.mpf):
        if x < _EXP_FLOOR:
            return mpmath.mpf(0)
        if mpmath.isfinite(x) and mpmath.mag(x) > 30 and mpmath.mp.prec > 600:
            return _exp_reduced(x)
    return mpmath.exp(x)


def _exp_reduced(x):
    """e^x = 2^n e^r, n = floor(x / log 2), r = x - n log 2 in [0, log 2), with mag(x) guard bits (r's absolute
    error is then below 2^-prec). Above 600 bits mpmath raises e to the integer x itself (x >= 2^53 is an integer
    in float64), one squaring per bit of x: 15 ms at u = 2^1000 and 640 digits, 1.2 s of one f's gen scoring forms
    of e^(u - 1) at 51 points; this is 1 ms, equal to the last bit."""
    with mpmath.extraprec(int(mpmath.mag(x)) + 20):
        n = int(mpmath.floor(x / mpmath.ln2))
        r = x - n * mpmath.ln2
        y = mpmath.exp(r)
    return mpmath.ldexp(+y, n)


def real_value(fn: Callable[[object], object], x, *, dps: int = DPS):
    """fn(x) as an mpf when it is real and finite, else None (complex, nan, inf or an evaluation error)."""
    from ..errors import DerivationTimeout
    from .._util.timelimit import time_limit

    with mpmath.workdps(dps + 10):
        try:
            # one evaluation may not run away: exp(exp(u)) at u = 2^30 has a billion-digit exponent
            with time_limit("one numeric evaluation", EVALUATION_SECONDS):
                y = fn(x if isinstance(x, mpmath.mpf) else to_mpf(x, dps))
        except (ValueError, ZeroDivisionError, OverflowError, TypeError, DerivationTimeout):
            return None
        return as_real(y, mpmath.mpf(10) ** (-dps))


def as_real(y, tiny):
    """y as a finite mpf, or None: complex beyond a relative imaginary part `tiny` (e.g. outside dom f*), nan,
    inf or not a number."""
    if isinstance(y, mpmath.mpc):
        if abs(y.imag) > tiny * (1 + abs(y.real)):
            return None
        y = y.real
    if not isinstance(y, mpmath.mpf):
        try:
            y = mpmath.mpf(y)
        except (TypeError, ValueError):
            return None
    return y if mpmath.isfinite(y) else None


def to_mpf(value: sp.Expr, dps: int = DPS):
    """An exact SymPy number (or +-oo) as an mpf."""
    if isinstance(value, (int, float)):
        return mpmath.mpf(value)
    value = numeric_form(value)
    if value == sp.oo:
        return mpmath.inf
    if value == -sp.oo:
        return -mpmath.inf
    with mpmath.workdps(dps + 10):
        return mpmath.mpf(sp.Float(value.evalf(dps + 10), dps + 10))


def sample_points(lo: sp.Expr, hi: sp.Expr, count: int) -> list[sp.Rational]:
    """Exact rational points spread over the open interval (lo, hi), log-spaced towards infinite ends."""
    points: list[sp.Rational] = []
    lo, hi = numeric_form(lo), numeric_form(hi)
    if lo.is_finite and hi.is_finite:
        for k in range(1, count + 1):
            points.append(sp.nsimplify(lo + (hi - lo) * sp.Rational(k, count + 1), rational=True))
        # cluster a few near each end as well
        width = hi - lo
        for e in (3, 6):
            points += [sp.nsimplify(lo + width / 10**e, rational=True), sp.nsimplify(hi - width / 10**e, rational=True)]
    else:
        spread = [sp.Rational(2) ** k for k in range(-30, 31, max(1, 60 // count))]
        if lo.is_finite:  # (lo, oo)
            points = [sp.nsimplify(lo, rational=True) + d for d in spread]
        elif hi.is_finite:  # (-oo, hi)
            points = [sp.nsimplify(hi, rational=True) - d for d in spread]
        else:
            points = [-d for d in spread] + [sp.Integer(0)] + spread
    return points


def golden_max(phi: Callable, lo, hi, iterations: int = 260):
    """max of a unimodal function on [lo, hi] by golden-section search (the bracket shrinks 0.618x a step),
    also comparing the ends, where a monotone function takes its maximum."""
    r = (mpmath.sqrt(5) - 1) / 2
    a, b = lo, hi
    x1, x2 = b - r * (b - a), a + r * (b - a)
    f1, f2 = phi(x1), phi(x2)
    for _ in range(iterations):
        if f1 < f2:
            a, x1, f1 = x1, x2, f2
            x2 = a + r * (b - a)
            f2 = phi(x2)
        else:
            b, x2, f2 = x2, x1, f1
            x1 = b - r * (b - a)
            f1 = phi(x1)
    return max(f1, f2, phi(lo), phi(hi))
