"""The exact reference: the adaptive precision gives what the full 40 + 0.4343 |v| digits give, and the tolerance
rule is the stated one."""
from __future__ import annotations

import math

import mpmath
import pytest

from fdiv.testing import reference as R
from fdiv.testing.exact import derivation, reference


def full_precision(fn, x: float):
    """The rule the adaptive one shortcuts: e^-|x| visible next to 1, confirmed 20 digits higher."""
    digits = R.needed_digits(x)
    values = [R._at(fn, x, d) for d in (digits, digits + 20)]
    return values[1] if R._agree(*values) else None


# compositions near the end of dom f* (where 60 digits lose e^-|v| next to 1), their gradients, and the far tails
CASES = [(name, key, order) for name in ("gan", "jensen-shannon", "squared-hellinger", "reverse-kl", "pearson")
         for key in ("activation", "conjugate_of_activation", "density_ratio") for order in (0, 1)]
POINTS = [0.0, 3.5, -20.0, 47.0, 88.7, -120.0, 300.0, 745.5, -1000.0]


@pytest.mark.parametrize("name, key, order", CASES, ids=[f"{n}-{k}-{o}" for n, k, o in CASES])
def test_adaptive_precision_matches_full_precision(name, key, order):
    fn = reference(derivation(name)).function(key, order)
    for x in POINTS:
        fast, full = R.exact(fn, x), full_precision(fn, x)
        if full is None or fast is None:
            assert full is None and fast is None, (x, fast, full)
            continue
        assert abs(fast - full) <= mpmath.mpf(10) ** -20 * max(abs(full), mpmath.mpf(10) ** -300), (x, fast, full)


def test_a_swallowed_term_is_recomputed():
    fn = reference(derivation("gan")).function("conjugate_of_activation")  # log(1/(1 - 1/(1 + exp(-v))))
    assert R._at(fn, 1000.0, 60) is None  # 1 - 1/(1 + e^-1000) is 0 at 60 digits
    assert R.to_float(R.exact(fn, 1000.0)) == 1000.0  # softplus(1000)


def test_tolerance_rule():
    assert R.tolerance(100.0, "float32") == pytest.approx(1e-3)
    assert R.tolerance(0.5, "float64") == pytest.approx(0.5e-11 + 10 * 2.0**-52)
    assert R.tolerance(3.0, "float64", scale=10.0, slack=1e-9) == pytest.approx(1e-10 + 1e-9)
    assert R.compare({"v": 1e4}, "value", "float32", math.inf, mpmath.mpf(10) ** 50) is None  # not representable
    p = R.compare({"v": 0.0}, "value", "float64", 1.0 + 2e-11, mpmath.mpf(1))
    assert p is not None and not p.ok and p.badness == pytest.approx(2.0, rel=1e-3)


def test_the_slope_of_an_infinite_branch_is_not_zero():
    """A bounded f' (critic range (-3, 2), sigma = 5/2 tanh(v) - 1/2): at v = 1000, sigma(v) = 2 - 5 e^-2000 is 2
    at the reference's digits, where the density ratio is the branch oo. Its slope there is no reference (the
    exact one, ~e^1000, overflows), not 0 (SymPy's derivative of a constant branch, which failed a correct
    module's +inf); at moderate v it is the ratio's finite slope."""
    from fdiv.derivation.engine import derive

    d = derive("(u - 1)**2/(u + 1) + sqrt(u**2 + 1) - sqrt(2)")
    ref = reference(d)
    assert ref.derivative("density_ratio", 1000.0) is None
    slope = ref.derivative("density_ratio", 1.0)
    assert slope is not None and 0 < slope < 1e6


def test_a_root_next_to_a_finite_end_of_the_slope_range_stops_at_the_precision_f_prime_has():
    """The reference of a numeric f* at v = 1e4 (14 000 bits) solves f'(u) = t with t e^-1e4 below f'(oo): the
    residual f'(u) - t is rounding noise once below 2^-prec |t|, and bisecting y on its sign to 2^-prec took
    ~14 000 steps (minutes per point: fdiv.testing.check_loss never finished on such an f). It stops there now,
    in under 400 evaluations of f', and the root agrees with the one solved 20 digits higher; at the usual 60
    digits the bracket still closes to the full precision."""
    import sympy as sp

    from fdiv.derivation.inverse import _solve
    from fdiv.derivation.numeric import mp_function
    from fdiv.spec.spec import U

    f = 4 * (U - 1) ** 2 / (U + 2) + sp.Rational(1, 4) * (
        sp.Rational(3, 4) * U * sp.log(U) - (sp.Rational(3, 4) * U + sp.Rational(1, 4)) * sp.log(sp.Rational(3, 4) * U + sp.Rational(1, 4)))
    df, d2f = mp_function(sp.diff(f, U), U), mp_function(sp.diff(f, U, 2), U)
    b = sp.limit(sp.diff(f, U), U, sp.oo)  # f'(oo) = 4 + 3/16 log(4/3)
    calls = [0]

    def counted(u):
        calls[0] += 1
        if calls[0] > 2000:  # the old bisection: stop it here rather than after minutes
            raise AssertionError("more than 2000 evaluations of f'")
        return df(u)

    roots = []
    for digits in (R.needed_digits(1e4), R.needed_digits(1e4) + 20):
        with mpmath.workdps(digits):
            t = mpmath.mpf(sp.N(b, digits + 20)) - mpmath.exp(-10000)
            calls[0] = 0
            with mpmath.workprec(mpmath.mp.prec + 20):
                roots.append(_solve(counted, 0, sp.oo, t, d2f))
            assert calls[0] < 400
    assert abs(mpmath.log(roots[0]) / mpmath.log(roots[1]) - 1) < mpmath.mpf(10) ** -25
    with mpmath.workdps(60):  # a cusp-free root at the usual precision: f'(u) = t to the last bits
        t = mpmath.mpf(3)
        with mpmath.workprec(mpmath.mp.prec + 20):
            u = _solve(df, 0, sp.oo, t, d2f)
            assert abs(df(u) - t) <= mpmath.mpf(2) ** -(mpmath.mp.prec - 12) * 4
