"""Symbolic parameter ranges: the alpha-divergence derived for alpha > 1, 0 < alpha < 1 and alpha < 0, then
instantiated at several alpha and compared with the independent numeric conjugate (1e-8 relative, as in
test_conjugate_numeric), and with the numeric-alpha derivation's domain."""
import functools

import mpmath
import pytest
import sympy as sp

import fdiv
from fdiv.derivation.conjugate import T
from fdiv.errors import SpecError
from fdiv.spec.spec import U
from numerics.conjugate import numeric_conjugate

ALPHA = sp.Symbol("alpha", real=True)


@functools.cache
def symbolic(rng: str) -> fdiv.Derivation:
    return fdiv.derive("alpha", alpha=rng)


@pytest.mark.parametrize("rng, values", [
    ("(1, oo)", ["3/2", "3", "7/2"]),
    ("(0, 1)", ["1/3", "4/5"]),
    ("(-oo, 0)", ["-1/2", "-2"]),
])
def test_symbolic_alpha_matches_numeric(rng, values):
    d = symbolic(rng)
    assert d.ok and d.parameters["alpha"].__str__() == rng
    for text in values:
        a = sp.Rational(text)
        exact = fdiv.derive("alpha", alpha=text)
        dom = d.conjugate_domain
        assert sp.simplify(dom.upper.subs(ALPHA, a) - exact.conjugate_domain.upper) == 0 or dom.upper == sp.oo
        assert dom.upper_closed == exact.conjugate_domain.upper_closed
        f = sp.lambdify(U, d.f.subs(ALPHA, a), "mpmath")
        conj = sp.lambdify(T, d.conjugate.subs(ALPHA, a), "mpmath")
        top = exact.conjugate_domain.upper
        ts = [top - sp.Rational(1, 10) ** k for k in (0, 2, 5)] if top.is_finite else [sp.Integer(k) for k in (-5, 0, 3)]
        if exact.f_prime_at_zero.is_finite:
            ts.append(exact.f_prime_at_zero - 1)  # the boundary branch
        for t in ts:
            with mpmath.workdps(50):
                got, ref = conj(mpmath.mpf(sp.Float(t, 60))), numeric_conjugate(f, mpmath.mpf(sp.Float(t, 60)))
                assert abs(got - ref) <= 1e-8 * abs(ref) + 1e-30, (rng, text, t, got, ref)


def test_alpha_above_one_has_the_boundary_branch():
    d = symbolic("(1, oo)")
    assert isinstance(d.conjugate, sp.Piecewise)
    assert d.conjugate.args[0] == (-1 / ALPHA, T <= -1 / (ALPHA - 1))
    assert sp.simplify(d.critic_range.lower + 1 / (ALPHA - 1)) == 0


def test_sampled_checks_name_their_sample():
    d = symbolic("(0, 1)")
    numeric = [c for c in d.checks if c.method != "symbolic"]
    assert numeric and all("sampled at alpha = 1/3" in c.detail for c in numeric)


@pytest.mark.parametrize("rng, message", [("(0, 2)", "contains the excluded value 1"),
                                          ("[1, oo)", "open interval"), ("(-oo, oo)", "finite end")])
def test_bad_ranges(rng, message):
    with pytest.raises(SpecError, match=message):
        fdiv.derive("alpha", alpha=rng)
