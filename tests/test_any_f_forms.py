"""Any convex f, part 2: each failure the grammar-drawn f's showed, fixed and kept fixed.

Self-checks that judge the mathematics (C1 breakpoints, the open end of a numeric branch, closed forms that cancel),
generation that never refuses or crashes after a derivation (Wright omega of c e^x, complex-looking constants, a
constant in save_for_backward, exp(-u) normalised), values right at the ends (one-sided critic ranges of the GAN
family, overflowing numerators, f* past the float range), form choice by cost and accuracy rather than by
solvability (Cardano, closed forms that lose accuracy when lowered), tables that converge for ordinary f's,
determinism under any time limit, `fdiv plot` for numeric conjugates.

Accuracy is checked with fdiv.testing (mpmath references of the derivation, 1e-5 relative in float32 and 1e-11 in
float64 where the exact value is representable) at the standard logit grid, which reaches |v| = 1e4.
"""
from __future__ import annotations

import ast
import importlib.util
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
import torch

import fdiv
import fdiv.testing as ft
from fdiv.derivation import conjugate as conj
from fdiv.derivation.conjugate import T
from fdiv.codegen.emit import render_module, write_module
from fdiv.errors import DerivationError, DerivationTimeout
from fdiv.derivation.numeric import mp_function, real_value
from fdiv.spec.parse import parse
from fdiv.spec.spec import U

ROLES = ("activation", "conjugate", "conjugate_of_activation", "density_ratio", "critic_loss")


def _module(f: str, directory, name: str, notes: list | None = None):
    path = write_module(fdiv.derive(f), directory, name, notes)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path.read_text()


def _accurate(module, f: str, roles=ROLES, reach: float = math.inf) -> None:
    logits = [v for v in ft.default_logits(drawn=0) if abs(v) <= reach]
    for role in roles:
        report = ft.check_loss(getattr(module, role), f, role=role, logits=logits)
        assert report.ok, report.text()


@pytest.fixture
def forced_numeric(monkeypatch):
    """Every smooth branch numeric (the cache key holds the switch)."""
    monkeypatch.setattr(conj, "FORCE_NUMERIC", True)


# ------------------------------------------------------------------------------------------- self-checks
@pytest.mark.parametrize("f", ["Max(u - 1, 0)**2 + (sqrt(u) - 1)**4", "Abs(u - 1)**(3/2) + u*log(u)"])
def test_c1_breakpoint_between_numeric_branches_is_a_closed_point(f):
    """At a C1 breakpoint c (f'(c-) = f'(c+)) both neighbouring numeric branches are open at t = f'(c): f*(f'(c)) =
    c f'(c) - f(c) is a closed branch of its own, and the check of f*(f'(1)) (c = 1) no longer fails there."""
    d = fdiv.derive(f)
    assert d.numeric and d.ok, [str(c) for c in d.checks if not c.passed]
    (point,) = [b for b in d.branches if b.kind == "kink"]
    assert point.closed and point.ratio == 1 and point.upper == d.f_prime_at_one
    # f*(f'(1)) = 1 f'(1) - f(1), f(1) = 0
    assert real_value(mp_function(d.conjugate, T), d.f_prime_at_one) == real_value(mp_function(d.f_prime_at_one, T), 0)


@pytest.mark.parametrize("f", ["5/2*(sqrt(u) - 1)**2", "squared-hellinger", "reverse-kl-normalised", "gan",
                               "sqrt(1 + u**2) - sqrt(2)"])
def test_forced_numeric_conjugate_passes_the_checks_and_matches_the_closed_form(f, forced_numeric):
    """Forced onto the numeric path, f* passes its self-checks: the biconjugate search never evaluates f* at an
    open end t = f'(oo) (where the root solve has nothing to find: it gave 0 there, and f** = 12.5 != f(5)), and a
    closed end gets its limit as a branch of its own. The numeric f* equals the closed form at 30 digits."""
    d = fdiv.derive(f)
    assert d.numeric and d.ok, [str(c) for c in d.checks if not c.passed]
    conj.FORCE_NUMERIC = False
    exact = fdiv.derive(f)
    assert not exact.numeric
    assert d.conjugate_domain == exact.conjugate_domain
    ours, theirs = mp_function(d.conjugate, T), mp_function(exact.conjugate, T)
    b = d.conjugate_domain.upper
    right = float(b) if b.is_finite else 20.0
    for t in [x for x in (-30, -1, 0) if x < right] + [right - 1, right - 1e-3, right - 1e-9]:  # inside dom f*
        a, e = real_value(ours, sp.Float(t, 30)), real_value(theirs, sp.Float(t, 30))
        assert a is not None and abs(a - e) <= 1e-20 * (1 + abs(e)), (f, t, a, e)
    if d.conjugate_domain.upper_closed:
        assert d.branches[-1].kind == "end"
        assert real_value(ours, b) == real_value(theirs, b)


def test_a_cancelling_closed_form_is_checked_at_the_precision_it_needs():
    """f*(t) = e^(t - 1) for u log u, written with a term that is exactly 0 but cancels 30 digits: checked at 30
    digits it failed; the check now retries at 60 and 120 digits and passes, labelled with the precision used. The
    same form 1e-15 off (a wrong conjugate) fails at every precision: the tolerance (1e-22 relative) stays that of 30
    digits."""
    from dataclasses import replace

    from fdiv.derivation import selfcheck
    from fdiv.derivation.validate import analyse

    a = analyse(U * sp.log(U))
    c = conj.conjugate(a)
    k = sp.Integer(10) ** 15
    # = 0, but k (sqrt(t^2 + k^2) - k) loses t^2/2 to rounding at 30 digits, not at 60
    zero = k * (sp.sqrt(T**2 + k**2) - k) - k * T**2 / (sp.sqrt(T**2 + k**2) + k)
    smooth = next(i for i, b in enumerate(c.branches) if b.kind == "smooth")

    def planted(extra):
        branches = list(c.branches)
        branches[smooth] = replace(branches[smooth], expr=branches[smooth].expr + extra)
        return replace(c, branches=tuple(branches), expr=c.expr + extra)

    selfcheck_is_zero = selfcheck._is_zero
    try:
        selfcheck._is_zero = lambda expr, what: False  # as if SymPy could not simplify it: the numeric line
        good = selfcheck._fenchel_young_equality(a, planted(zero))
        wrong = selfcheck._fenchel_young_equality(a, planted(zero + sp.Rational(1, 10**15)))
    finally:
        selfcheck._is_zero = selfcheck_is_zero
    assert good.passed and ("120 digits" in good.method or "60 digits" in good.method), good
    assert not wrong.passed, wrong


@pytest.mark.parametrize("f", ["exp((u - 1)/2) + Max(u - 1/2, 0)**2",
                               "Max(u - 2, 0)**2/3 + 2*exp(u/4)/3 + 2*Max(u - 1, 0)**2/3"])
def test_fenchel_young_is_checked_where_its_digits_can_be_carried(f):
    """Two f's of the campaign were refused: f*'s closed form holds t^2/4 (t = f'(u) ~ e^(u/2)) and cancels it
    down to u t, which at u = 2^20 needs some 200 000 digits; no precision of the check carried them. Points where
    f(u) or u f'(u) pass 1e40 are left out, and said so; the other points still reject the closed form off by
    1e-15 there (a wrong conjugate)."""
    from dataclasses import replace

    from fdiv.derivation import selfcheck
    from fdiv.derivation.validate import analyse

    d = fdiv.derive(f)
    fy = next(c for c in d.checks if c.name.startswith("Fenchel-Young equality"))
    assert fy.passed and "beyond 1e40 left out" in fy.detail, fy
    assert int(fy.method.split(", ")[1].split()[0]) >= 6, fy  # points still checked
    a = analyse(parse(f, {"u": U}))
    c = conj.conjugate(a)
    last = len(c.branches) - 1
    branches = list(c.branches)
    branches[last] = replace(branches[last], expr=branches[last].expr + sp.Rational(1, 10**15))
    wrong = selfcheck._fenchel_young_equality(a, replace(c, branches=tuple(branches)))
    assert not wrong.passed, wrong


@pytest.mark.parametrize("df", ["2*u - 1 + exp(u/4)/6", "u/3 + 2 - exp(-2*u)", "2*u + log(u + 3)",
                                "u/2 - 1 + 3*log(2*u + 1)"])
def test_a_linear_term_beside_one_exp_or_log_is_inverted_by_lambert_w(df):
    """f'(u) = a u + b + c e^(k u) (or c log(u + d)) is inverted by the principal W without solve, which needed
    some ten seconds a branch (30 s for the campaign's e^(u/4) beside two Max terms). The inverse is checked at
    30 digits; the same form with W's argument doubled (a planted slip) is rejected by the same check."""
    expr = parse(df, {"u": U})
    (cand,) = conj._lambert_linear(expr, T)
    t_fn, u_fn, df_fn = (mp_function(cand, T), mp_function(cand.replace(
        lambda e: isinstance(e, sp.LambertW), lambda e: sp.LambertW(2 * e.args[0])), T), mp_function(expr, U))
    for t in (-1, 0.5, 3, 40):
        u = real_value(t_fn, t)
        assert u is not None and abs(real_value(df_fn, u) - t) < 1e-25 * (1 + abs(t))
        slip = real_value(u_fn, t)  # at t = 40, W(6 e^(-228)) = 6 e^(-228): doubling it moves nothing there
        assert t == 40 or slip is None or abs(real_value(df_fn, slip) - t) > 1e-3
    assert conj._lambert_linear(parse("2*u - exp(u)", {"u": U}), T) == []  # a c k < 0: two real branches, left to solve


# ---------------------------------------------------------------------------------- gen after a derivation
def test_lambert_w_of_a_constant_times_an_exponential_is_a_wright_omega(tmp_path):
    """W(c e^x) with c = 6 e^6 (the f below) is omega(x + log c); it could not be lowered before."""
    from fdiv.codegen.lower.rules import apply_rules, wright_omega

    x = sp.Symbol("x")
    assert apply_rules(sp.LambertW(6 * sp.exp(6) * sp.exp(x))) == wright_omega(x + 6 + sp.log(6))
    f = "(u + 3)*log(u + 3) + (u - 1)**2"
    module, src = _module(f, tmp_path, "lambert")
    assert not fdiv.derive(f).numeric and "_wright_omega" in src
    _accurate(module, f)


def test_a_complex_constant_is_a_derivation_error_not_a_crash():
    """(-1)^(1/3) is SymPy's principal, complex cube root: printing it is refused with a DerivationError (a branch
    with it is then lowered numerically), never a TypeError from float()."""
    from fdiv.codegen.lower.printer import TorchPrinter, constant_value

    with pytest.raises(DerivationError, match="not real"):
        constant_value((-1) ** sp.Rational(1, 3))
    with pytest.raises(DerivationError, match="not real"):
        TorchPrinter(T).emit(T + (-1) ** sp.Rational(1, 3))
    assert constant_value(sp.Function("expm1")(-1)) == math.expm1(-1)  # a helper's call: its definition's value


@pytest.mark.parametrize("f", ["exp(-u) - exp(-1) + exp(-1)*(u - 1)", "u**3 + 1/u"])
def test_gen_writes_a_working_module(f, tmp_path):
    """exp(-u) normalised died on a branch bound printed as expm1(-1) (Cannot convert expression to float); for
    u^3 + 1/u the module was written but critic_loss raised (sqrt(6) passed to save_for_backward)."""
    module, _ = _module(f, tmp_path, "works")
    v = torch.linspace(-5, 5, 11, requires_grad=True)
    module.critic_loss(v, v).backward()
    assert torch.isfinite(v.grad).all()
    _accurate(module, f)


# ------------------------------------------------------------------------------------- values at the ends
@pytest.mark.parametrize("f", ["5/2*(u*log(u) - (u + 1)*log(u + 1))", "4/u - 3/2*log(u) + u",
                               "u*log(u) - (u + 3)*log((u + 3)/4)"])
def test_one_sided_critic_ranges_of_the_gan_family(f, tmp_path):
    """Weighted and shifted GAN-family f's and 4/u - 3/2 log u + u: inf or NaN at logits +-100 (float32) and +-1000
    (float64) before, where f* is 1e2 to 1e4."""
    module, _ = _module(f, tmp_path, "gan_family")
    _accurate(module, f)


def test_numeric_gan_family_past_the_float_range(tmp_path, forced_numeric):
    """The weighted GAN f numerically: at logit 1000 the root u* = e^1000 is past float64, f* = 2500 is not; it came
    out +inf. The root's log and f* from the asymptotics of b - f'(u) and b u - f(u) at u = oo. (It was 2e-11 off
    in float64 at t = -2e-9 until b u - f(u) was written with its logs grouped: u log1p(1/u) ~ 1, not the difference
    of two terms of u log u.)"""
    f = "5/2*(u*log(u) - (u + 1)*log(u + 1))"
    module, src = _module(f, tmp_path, "gan_numeric")
    assert "y_tail" in src
    for dtype in (torch.float32, torch.float64):
        v = torch.tensor([100.0, 1000.0, 1e4], dtype=dtype, requires_grad=True)
        y = module.conjugate_of_activation(v)
        y.sum().backward()
        # f*(sigma(v)) = -5/2 log(1 - e^(-2c/5)), c = softplus(-v) = e^-v: 5/2 (v + log(5/2)) to 1e-40 here
        exact = torch.tensor([2.5 * (x + math.log(2.5)) for x in v.tolist()], dtype=torch.float64)
        assert torch.allclose(y.double(), exact, rtol=1e-6), (dtype, y)
        assert torch.allclose(v.grad.double(), torch.full((3,), 2.5, dtype=torch.float64), rtol=1e-5), v.grad
    conj.FORCE_NUMERIC = False
    _accurate(module, f)


def test_a_numerator_that_overflows_before_f_star_does(tmp_path):
    """(u - 1)^2/(u + 2) + u log u - u + 1 gave -inf for t >= 356: (u - 1)^2 overflows at u ~ 1e154, while f* does
    not until t ~ 710. Over one denominator f overflows there, and the partial fractions u - 4 + 9/(u + 2) cancel
    next to u = 1; as paired quotients, (u - 1) ((u - 1)/(u + 2)), it does neither."""
    f = "(u - 1)**2/(u + 2) + u*log(u) - u + 1"
    module, _ = _module(f, tmp_path, "overflow")
    t = torch.tensor([356.0, 500.0, 700.0, 720.0, 1e4], dtype=torch.float64)
    values = module.conjugate(t)
    assert torch.isfinite(values[:3]).all() and (values[:3] > 0).all() and (values[3:] == math.inf).all(), values
    _accurate(module, f)


@pytest.mark.parametrize(("f", "reach"), [
    # the reference's numeric f* at logit +-1e4 needs 4383 digits, where its root solve takes minutes: to |v| = 1000
    # here (benchmarks/any_f.py reaches 1e4 with its own supremum search)
    ("(u - 1)**2/(u + 1) + 2/3*((u + 3)*log(u + 3))", 1000.0),
    ("3/2*((u - 1)**2/(u + 1)) + 1/2*u**(-3/2) - 1/2 + 3/4*(u - 1)", math.inf),
    ("1/3*(1/(u + 2)) - sqrt(u) - 1/2 + 1/2*u", math.inf),
    # the reference's root solve at |v| = 1000 takes minutes for these: to 100 (their failures were at 5 and 30)
    ("1/2*(2/3*u*log(u) - (2/3*u + 1/3)*log(2/3*u + 1/3)) - u**(1/3)/4 + exp(1 - u)/3", 100.0),
    ("1/4*(u*log(u) - (u + 1)*log(u + 1)) + 4*(sqrt(u) - 3)**2", 100.0),
    ("(u + 2)*log(u + 2) - log(u)/3", 100.0)])
def test_numeric_branches_right_at_their_ends(f, reach, tmp_path):
    """Numeric branches whose ends the campaign found wrong: the distance of f' to a finite end computed with a
    log1p and a cancelled rational part (the table did not converge: the 64-step fallback, -inf at t = 998), a closed
    end f'(oo) = 9/4 whose root passes sqrt(float64's max) (ratio 1.3e154, NaN slope), an open end where u* passes
    float32's range while f* does not (finite 1.8e19 where +inf). From a later campaign: b u - f(u) of a weighted
    GAN term (u log u - u log(2u/3 + 1/3) ~ 1/2, written as a product of powers u^(-4u): +inf at v = 5 where f* is
    1.37, and 1 % off at v = 30), and f written as log((u + 2)^(u + 2)/...), one sample point better next to u = 1
    and overflowing from u = 150 on (-inf at v = 30 where f* is 2.3e13)."""
    module, src = _module(f, tmp_path, "ends")
    assert fdiv.derive(f).numeric and "_bracketed_newton(" not in src
    _accurate(module, f, reach=reach)


# ---------------------------------------------------------------------------------------- form choice
@pytest.mark.parametrize("f", ["log(1 + u**2) + u**2", "log(1 + u**2) + u**2 - 3*u", "(u - 1)**4 + (u - 1)**2"])
def test_cubic_slope_equations_are_numeric_by_rule(f, tmp_path, monkeypatch):
    """f'(u) = t a cubic in u (shifted, still three terms): Cardano's closed form is thousands of operations, took
    50 s to derive and gave 700 KB modules that overflowed. Numeric by a rule on the equation's shape: solve is not
    even asked (here it would raise)."""
    def no_solve(*args, **kwargs):
        raise AssertionError("solve called on a cubic")

    monkeypatch.setattr(conj, "_solved", no_solve)
    d = fdiv.derive(f)
    assert d.numeric and d.ok
    module, src = _module(f, tmp_path, "cubic")
    assert len(src.encode()) < 100_000
    _accurate(module, f, roles=("conjugate_of_activation", "critic_loss"))


def test_equations_with_roots_of_sums_are_numeric_by_rule(monkeypatch):
    """-4/u^2 + u/sqrt(1 + u^2) = t (degree 6 once the root is eliminated) and -3/2 sqrt(3 - u) - 1/u = t (degree
    3): solve ran past its 20 s limit on both and the campaign's f's were refused. A rule on the equation's shape
    sends them numeric without asking solve; u/sqrt(1 + u^2) = t (degree 2) keeps its closed form."""
    assert conj._radicals_over_budget(sp.diff(4 / U + sp.sqrt(1 + U**2), U))
    assert conj._radicals_over_budget(-sp.Rational(3, 2) * sp.sqrt(3 - U) - 1 / U)
    assert not conj._radicals_over_budget(U / sp.sqrt(1 + U**2))
    assert not conj._radicals_over_budget(sp.sqrt(U) - 1 / U)  # a root of u itself: the Cardano rule's
    assert not fdiv.derive("sqrt(1 + u**2)").numeric

    def no_solve(*args, **kwargs):
        raise AssertionError("solve called on an equation the rule sends numeric")

    monkeypatch.setattr(conj, "_solved", no_solve)
    d = fdiv.derive("4/u + sqrt(1 + u**2)")
    assert d.ok and d.numeric
    monkeypatch.undo()
    d = fdiv.derive("Max(3 - u, 0)**(3/2) - log(u) + 2/3*Abs(u - 1)")
    assert d.ok and d.numeric


def test_a_root_past_the_float_range_has_an_infinite_slope(tmp_path):
    """(u + 2) log(u + 2) - log(u)/3 at t = 1000: u* = e^999 is past float64's range, and so are f* and its slope
    u*. The module clamps u* to the top of the range for f*'s terms; its slope came out as that clamped 8.2e307
    instead of +inf. Below the range it is u* itself."""
    module, _ = _module("(u + 2)*log(u + 2) - log(u)/3", tmp_path, "past_top")
    for dtype in (torch.float32, torch.float64):
        for fn in (module.conjugate, module.conjugate_of_activation):
            v = torch.tensor([30.0, 1000.0], dtype=dtype, requires_grad=True)
            value = fn(v)
            value.sum().backward()
            assert value[1] == math.inf and v.grad[1] == math.inf, (fn.__name__, value, v.grad)
            # d f*/dt = u* = e^(t - 1) (1 + O(e^-t)) at t = 30
            assert abs(v.grad[0].item() / math.exp(29.0) - 1) < 1e-5, v.grad


def test_a_log_beside_a_power_of_another_sum_is_numeric_by_rule():
    """log(u + 2) + 1 - 1/(3 (u + 3)^2) = t has no Lambert-W inverse (the power is not of the log's argument), and
    solve ran past its 20 s on it: the campaign's Max(2 - u, 0)^(3/2) + 1/(3(u + 3)) + 2/3 (u + 2) log(u + 2) was
    refused. The shapes W inverts keep their closed forms."""
    assert not conj._solvable_shape(sp.log(U + 2) + 1 - 1 / (3 * (U + 3) ** 2))
    for df in (sp.log(U) + 1 - 1 / U, sp.log(U) - U**-2, sp.log(U + 3) + 2 * U, sp.log(U + 1) + 1 / (U + 1)):
        assert conj._solvable_shape(df), df
    d = fdiv.derive("Max(2 - u, 0)**(3/2) + 1/3*(1/(u + 3)) + 2/3*((u + 2)*log(u + 2))")
    assert d.ok and d.numeric
    assert not fdiv.derive("jeffrey").numeric


def test_a_condition_sympy_leaves_unsolved_is_lowered(tmp_path):
    """Max(u - 3, 0)/3 + |u - 1/2|^(3/2): a branch's condition came out as softplus(v) - 3 sqrt(2)/2 < -3 sqrt(2)/4,
    which SymPy does not solve for c, and gen refused a derivation that had succeeded."""
    from fdiv.codegen.lower.compose import _C, _solved_for

    cond = _solved_for(_C - 3 * sp.sqrt(2) / 2 < -3 * sp.sqrt(2) / 4, _C)
    assert cond.lhs == _C and sp.simplify(cond.rhs - 3 * sp.sqrt(2) / 4) == 0
    f = "Max(u - 3, 0)/3 + Abs(u - 1/2)**(3/2)"
    module, _ = _module(f, tmp_path, "conditions")
    _accurate(module, f, roles=("conjugate_of_activation", "density_ratio"), reach=30.0)


def test_a_real_part_sympy_leaves_in_a_composed_form_is_dropped(tmp_path):
    """e^(-u/2) + 2u (critic range (3/2, 2)): composing f* with tanh(v)/4 + 7/4 left re(softplus(2v)) (SymPy's
    log(e^x) for an x it cannot prove real), which no printer lowers, and gen failed. v is real and so is every
    primitive of it."""
    f = "exp(-u/2) - 1/2 + 2*u"
    module, src = _module(f, tmp_path, "real_part")
    assert not __import__("re").search(r"\bre\(", src)
    _accurate(module, f, roles=("conjugate_of_activation", "conjugate", "density_ratio"), reach=100.0)


def test_a_log_of_a_varying_power_is_never_a_candidate():
    """simplify wrote a distance of f' to its end as log(((u + 1)^3 ...)^exp(u/2)): b^x overflows long before x log b
    does, and scoring it in mpmath at u = 2^1000 ran past the step limit, so gen failed. Such forms are dropped."""
    from fdiv.codegen.lower.numeric import _log_of_power_of

    assert _log_of_power_of(sp.log((U + 1) ** (3 * sp.exp(U / 2))) / 12, U)
    assert not _log_of_power_of(sp.log((U + 1) ** 3) + sp.exp(U / 2), U)
    d = fdiv.derive("4*(2/3*u*log(u) - (2/3*u + 1/3)*log(2/3*u + 1/3)) + 1/2*exp(-(u - 1)/2) "
                    "+ 1/4*(u*log(u) - (u + 1)*log((u + 1)/2))")
    src = render_module(d, [])
    assert "_piece0_" in src and "** torch.exp" not in src


def test_a_cubic_slope_equation_is_named_in_the_note():
    """The numeric form chosen by the Cardano rule says why (it said 'SymPy found no closed form', which is false: a
    closed form exists, of thousands of operations); a numeric f* with no such equation keeps the general note."""
    (cubic,) = [n for n in fdiv.derive("log(1 + u**2) + u**2").notes() if "numerically" in n]
    assert "Cardano" in cubic and "u in (0, oo)" in cubic
    (other,) = [n for n in fdiv.derive("u**u - 1").notes() if "numerically" in n]
    assert "Cardano" not in other and "no closed form" in other


def test_binomial_and_biquadratic_equations_keep_their_closed_forms():
    """The rule leaves (u - 1)^4 (f' = t is one cube root after the shift) and u^3 + 1/u (quadratic in u^2)."""
    assert not conj._needs_cardano(sp.diff((U - 1) ** 4, U))
    assert not conj._needs_cardano(sp.diff(U**3 + 1 / U, U))
    assert conj._needs_cardano(sp.diff((U - 1) ** 4 + (U - 1) ** 2, U))
    assert not fdiv.derive("(u - 1)**4").numeric


def test_a_closed_form_that_loses_accuracy_when_lowered_is_lowered_numerically(tmp_path):
    """u^3 + 1/u: f*(t) has t + sqrt(t^2 + 12), which cancels for t << 0 (f*(-1e4) came out -174, exactly -200).
    The derivation keeps its closed form; the module solves that branch numerically and says so."""
    f = "u**3 + 1/u"
    notes: list[str] = []
    module, src = _module(f, tmp_path, "cancels", notes)
    assert not fdiv.derive(f).numeric and "_piece0_" in src
    assert any("loses accuracy" in n or "numerically" in n for n in notes), notes
    assert "loses accuracy in floating point" in src
    _accurate(module, f)


def test_a_bounded_critic_range_is_composed_before_it_is_expanded(tmp_path):
    """4 exp(-u/2): critic range (-2, 0), sigma_f(v) = tanh(v) - 1, density ratio log(4/t^2). Expanded first, the
    ratio read -log1p(tanh(v)^2 - 2 tanh(v)) + 2 log 2, +inf at v = 20 in float32 (exactly 80), so the module solved
    that branch numerically and, f' being e^(-e^y/2) in y = log u, in 64 Newton steps: 78 KB, 53x Jeffrey's time and
    8 points wrong. With the tanh identity applied before expanding it is 2 softplus(2v), closed."""
    f = "4*exp(-u/2)"
    module, src = _module(f, tmp_path, "bounded")
    assert "_piece" not in src and len(src.encode()) < 10_000
    _accurate(module, f)


@pytest.mark.parametrize("f", ["4*(2/3*u*log(u) - (2/3*u + 1/3)*log(2/3*u + 1/3))", "2*sqrt(1 + u**2) + u/2"])
def test_a_ratio_past_the_float_range_has_an_infinite_slope(f, tmp_path):
    """The GAN f weighted by 8/3 (and 3 other campaign f's): the density ratio exp(1000 - ...) is +inf at v = 1000
    and its slope is +inf, but reverse mode gave NaN (inf times the zero slope of a term that underflowed), and the
    judge skipped that point. It now counts it, and the module guards its ratio as it guards f*. For 2 sqrt(1 +
    u^2) + u/2 (critic range (1/2, 5/2)) the judge never looked: sigma_f(1000) = 5/2 - 4 e^-2000 rounded onto the
    open end at the reference's digits, and no branch held it."""
    from fdiv.codegen.emit import _render
    from fdiv.codegen.lower.compose import lower
    from fdiv.codegen.lower.judge import judge

    d = fdiv.derive(f)
    failures = judge(d, _render(d, lower(d)))  # unguarded, as before
    assert failures and {(x.role, x.what) for x in failures} == {("density_ratio", "gradient")}
    assert all(x.past_the_range and x.x >= 1000 for x in failures)
    module, _ = _module(f, tmp_path, "weighted")
    for dtype in (torch.float32, torch.float64):
        v = torch.tensor([30.0, 1000.0, 1e4], dtype=dtype, requires_grad=True)
        module.density_ratio(v).sum().backward()
        assert torch.isfinite(v.grad[0]) and (v.grad[1:] == math.inf).all(), v.grad
    _accurate(module, f, roles=("density_ratio",))


GAN_BESIDE_A_KINK = "1/3*(1/3*u*log(u) - (1/3*u + 2/3)*log(1/3*u + 2/3)) + 1/4*(Max(1/2 - u, 0))"


@pytest.mark.parametrize("f", ["3/2*(u*log(u) - (u + 1)*log(u + 1)) + log(8) + log(2*sqrt(2))*(u - 1)",
                               GAN_BESIDE_A_KINK])
def test_the_judge_places_a_logit_next_to_the_end_of_the_critic_range(f, tmp_path):
    """sigma_f(1000) lies e^-1000 below the end 3 log(2)/2 of a GAN-family critic range; the judge read that end
    to 60 digits, found no branch for it, and never compared the ratio's slope there (NaN, exactly +inf): four
    campaign f's shipped it. The end is now read at the working precision. Next to the kink, the ratio 2/(3
    e^(-9v - 9/4) - 1) is 0 at v = -1e4 with a NaN slope (inf/inf): a ratio that underflows to 0 has slope 0
    (runtime._ratio_past_the_range), checked by the judge like the +inf past the range."""
    from fdiv.codegen.emit import _render
    from fdiv.codegen.lower.compose import lower
    from fdiv.codegen.lower.judge import judge

    d = fdiv.derive(f)
    failures = judge(d, _render(d, lower(d)))  # unguarded
    assert {(x.role, x.what) for x in failures} == {("density_ratio", "gradient")}
    assert any(x.x == 1000 for x in failures) and all(x.past_the_range for x in failures)
    module, src = _module(f, tmp_path, "gan_family")
    assert "_ratio_past_the_range(inside, v)" in src and "_piece" not in src  # guarded, still closed
    for dtype in (torch.float32, torch.float64):
        v = torch.tensor([-1e4, 30.0, 1000.0], dtype=dtype, requires_grad=True)
        module.density_ratio(v).sum().backward()
        assert v.grad[0] == 0 and torch.isfinite(v.grad[1]) and v.grad[2] == math.inf, v.grad
    _accurate(module, f, roles=("density_ratio",))


def test_a_shifted_numeric_piece_differentiates_at_its_own_root(tmp_path, forced_numeric):
    """The piece u > 1/2 of GAN_BESIDE_A_KINK is solved on u = 1/2 + e^y and keeps log u* for its backward pass,
    which took u* = e^(log u*) + 1/2: 1/f''(u*) and the density ratio's slope were 3 % off at v = 5 (33.98 for
    32.97; the judge forced that branch numeric after its closed form's NaN above)."""
    module, src = _module(GAN_BESIDE_A_KINK, tmp_path, "shifted")
    assert "_shifted_exp_map" in src
    v = torch.tensor([5.0], dtype=torch.float64, requires_grad=True)
    module.density_ratio(v).backward()
    assert abs(v.grad.item() - 32.970788521104495) < 1e-8 * 33  # the mpmath slope at 40 digits
    _accurate(module, GAN_BESIDE_A_KINK, roles=("density_ratio", "conjugate_of_activation"))


def test_a_log_of_a_repeated_root_is_split_before_lowering(tmp_path, monkeypatch):
    """2(u - 1) - 2 log u has f*(t) = log(4/(t^2 - 4t + 4)): printed as it stands, f* was inf at t = 2 - 2e-13
    (float64, v = 30) and 7e-5 off at v = 5 in float32. rules.rule_log_repeated_factor writes -2 log|t - 2| + log
    4. Without it (and without rule_power_repeated_factor, which factors the log's argument) the expanded log is
    caught by the judge (f* at t = sigma_f(v)), which sends the branch numeric with a note; the module is right
    either way, and closed only with the rules."""
    from fdiv.codegen.lower import rules

    f = "2*(u - 1) - 2*log(u)"
    module, src = _module(f, tmp_path, "repeated")
    assert "torch.abs(t_0 - 2.0)" in src
    _accurate(module, f, roles=("conjugate",))
    monkeypatch.setattr(rules, "RULES", tuple(r for r in rules.RULES if r not in (
        rules.rule_log_repeated_factor, rules.rule_power_repeated_factor)))
    notes: list[str] = []
    planted, planted_src = _module(f, tmp_path, "expanded", notes)
    assert "torch.abs(t_0 - 2.0)" not in planted_src
    assert any("conjugate value" in n and "numerically there" in n for n in notes), notes
    _accurate(planted, f, roles=("conjugate",))


def test_f_second_derivative_is_taken_from_f_prime_as_derived(tmp_path, forced_numeric):
    """2 u log u + 2 u^(3/2) + affine, on the numeric path (its f' = a + b log u + c sqrt(u) now has a closed inverse
    by Lambert's W): f' was chosen rationalised ((a^2 - b^2)/(a - b)), and f'' was its derivative, a quotient of
    logs NaN where u* underflows to 0, so the density ratio's slope was NaN at v = -1e4 (exactly 0). f'' is now
    also taken from f' as derived, 2/u + 3/(2 sqrt(u)), and the better form by the same scoring wins."""
    f = "2*(u*log(u)) + 2*(u**(3/2)) - 2 - 5*(u - 1)"
    module, src = _module(f, tmp_path, "second")
    assert "return 2.0 / u + 1.5 / (torch.sqrt(u))" in src
    v = torch.tensor([-1e4], dtype=torch.float64, requires_grad=True)
    module.density_ratio(v).backward()
    assert 0.0 <= v.grad.item() < 1e-300  # exactly ~e^-5000 (u* clamped at the smallest normal float)
    _accurate(module, f, roles=("density_ratio",))


def test_a_rational_term_beside_a_gan_term_cancels_before_evaluation(tmp_path):
    """(u - 1)^2/(u + 1) beside a weighted GAN term: b u - f(u) is O(log u), and the form chosen for it kept -u^2
    log u + u^2 log(u + 2), 7e-5 off f* in float64 at v = 30 (u* = 3.6e12). Logs grouped with the rational part
    cancelled, it is u log1p(2/u)/6 + log(u/3 + 2/3)/3 + (5u - 1)/(u + 1)."""
    f = "1/2*(1/3*u*log(u) - (1/3*u + 2/3)*log(1/3*u + 2/3)) + 3/2*((u - 1)**2/(u + 1)) - 1/2 - u"
    module, src = _module(f, tmp_path, "rational_gan")
    assert "log1p(2.0 / u)" in src
    _accurate(module, f, roles=("conjugate_of_activation",))


def test_logs_of_polynomials_are_split_at_infinity_for_a_gap_that_vanishes_there(tmp_path):
    """Two weighted GAN terms beside e^(-u/2): b - f'(u) held -35/12 log u + 8/3 log(2u/3 + 1/3) + 1/4 log(u/2 +
    1/2) + constants, whose coefficients no common factor makes integers, so no candidate grouped them. It
    cancelled to nothing from u ~ 1e7: no table converged (the 64-step fallback, 308x Jeffrey) and float32 was 3 %
    off at v = 30. Each log split at infinity, it is 8/3 log1p(1/(2u)) + 1/4 log1p(1/u) + e^(1/2 - u/2)/4."""
    from fdiv.codegen.lower import numeric as N

    f = ("4*(2/3*u*log(u) - (2/3*u + 1/3)*log(2/3*u + 1/3)) + 1/2*(exp(-(u - 1)/2))"
         " + 1/4*(u*log(u) - (u + 1)*log((u + 1)/2))")
    f_expr = parse(f, {"u": U})
    df = sp.diff(f_expr, U)
    gap = sp.limit(df, U, sp.oo) - df
    split = N._rational_part_cancelled(N._logs_split_at_infinity(gap, U), U)
    assert not split.has(sp.log)  # no log u and no constant left: they cancelled exactly
    ours = sp.lambdify(U, split, [{"log1p": mpmath.log1p}, "mpmath"])
    theirs = sp.lambdify(U, gap, "mpmath")
    with mpmath.workdps(60):  # the same function: 1e-40 relative at 60 digits, out to where the gap is 1e-20
        for u in ("0.01", "1", "30", "1e6", "1e20"):
            x = mpmath.mpf(u)
            assert abs(ours(x) - theirs(x)) <= mpmath.mpf(10) ** -40 * abs(theirs(x))
    notes: list = []
    module, src = _module(f, tmp_path, "two_gans", notes)
    assert "_bracketed_newton" not in src and not any("64-step" in n for n in notes), notes
    # to |v| = 1000: fdiv.testing's reference of this f at v = 1e4 (u* ~ e^20000) takes some 25 s a point
    _accurate(module, f, roles=("conjugate_of_activation", "density_ratio"), reach=1000)


def test_an_exponential_past_every_precision_is_zero_in_the_references():
    """mpmath computed e^(-u/2) at u = e^20000 exactly, for minutes (fdiv.testing's reference of the f above at v =
    1e4 never returned). Below x = -1e400, which no float input reaches, e^x is 0 in fdiv's mpmath functions; above
    it (Jeffrey's 1/W(e^(1 - t)) at t = 2^30), e^x is mpmath's."""
    import time

    fn = mp_function(sp.exp(-U / 2), U)
    start = time.process_time()
    with mpmath.workdps(9000):
        assert fn(mpmath.exp(mpmath.mpf(20000))) == 0
    assert time.process_time() - start < 1.0  # CPU seconds; it was minutes
    with mpmath.workdps(50):
        assert fn(mpmath.mpf(100)) == mpmath.exp(-50) and fn(mpmath.mpf(2) ** 31) > 0


def test_logs_are_split_at_zero_so_that_their_product_never_overflows(tmp_path):
    """5/2 (u + 3) log(u + 3) + 5/2 (u + 1/2) log(u + 1/2) + affine: f' - f'(0+) was written 5/2 log1p(u (2u +
    7)/3), whose product overflows float64 at u = 1e154, and f* was -inf from v = 1800 (where it is 1e157, and
    past the range +inf only from v ~ 3600). One log1p per factor, 5/2 (log1p(u/3) + log1p(2u)), is exact."""
    f = ("5/2*((u + 3)*log(u + 3)) + 5/2*((u + 1/2)*log(u + 1/2)) - (15*log(3/2)/4 + 10*log(4))"
         " - (5*log(3/2)/2 + 5*log(4)/2 + 5)*(u - 1)")
    module, src = _module(f, tmp_path, "two_logs")
    v = torch.tensor([1800.0, 3000.0, 1e4], dtype=torch.float64)
    value = module.conjugate_of_activation(v)
    assert torch.isfinite(value[:2]).all() and value[2] == math.inf, value
    assert 1.3e157 < value[0] < 1.4e157  # u* t - f(u*) at u* = e^(2 t/5) ~ 2.7e156, t = 1800 - 3.47
    _accurate(module, f, roles=("conjugate_of_activation", "density_ratio"), reach=1000)


def test_a_log_of_a_power_is_written_as_a_log_of_its_root(tmp_path):
    """b u - f(u) of 1/3 and 2/3 GAN-family terms beside 3 sqrt(1 + u^2) holds u/3 log((u + 1)^3/u^3): written
    u/3 log1p(3/u + 3/u^2 + 1/u^3), its 1/u^3 overflowed below u = 1e-103, and f* was +inf at v = -1000 where it
    is -1.57 (seed 27182, index 141). As u log1p(1/u) it is finite down to the smallest u."""
    from fdiv.codegen.lower.numeric import _vanishing_logs_grouped
    from fdiv.codegen.lower.rules import log1p

    f = ("1/3*(u*log(u) - (u + 1)*log(u + 1)) + 2/3*(u*log(u) - (u + 1)*log((u + 1)/2)) + 3*(sqrt(1 + u**2))"
         " - (-2*log(2)/3 + 3*sqrt(2)) - (-log(2)/3 + 3*sqrt(2)/2)*(u - 1)")
    fu = parse(f, {"u": U})
    b = sp.limit(sp.diff(fu, U), U, sp.oo)
    out = _vanishing_logs_grouped(sp.expand(b * U - fu), U, sp.oo)
    assert out.has(U * log1p(1 / U)) and not out.has(U**-3), out
    # the expanded form the lowering wrote before overflows where the root's form does not
    tiny = np.float64(1e-150)
    with np.errstate(all="ignore"):
        assert np.isinf(tiny * np.log1p(1 / tiny**3 + 3 / tiny**2 + 3 / tiny) / 3)
        assert np.isfinite(tiny * np.log1p(1 / tiny))
    module, _ = _module(f, tmp_path, "power_log")
    for dtype in (torch.float32, torch.float64):
        value = module.conjugate_of_activation(torch.tensor([-1e4, -1000.0], dtype=dtype))
        assert torch.allclose(value.double(), torch.tensor([-1.5718268370003028] * 2, dtype=torch.float64),
                              rtol=1e-6), value  # -f(0+): u* -> 0 as t -> -oo


def test_a_root_of_a_quadratic_is_a_hypot(tmp_path):
    """3 sqrt(1 + u^2) beside u log u and (u - 1)^2/(u + 1): sqrt(1 + u^2) overflows float64 at u = 1.3e154, and
    f* was -inf at v = 1000 where it is 4.13e173 (float32: +inf, past its range). A^(k/2) with A = c (u + m)^2 + d
    is written c^(k/2) hypot(u + m, sqrt(d/c))^k (runtime._hypot, torch.hypot)."""
    from fdiv.codegen.lower import numeric as N
    from fdiv.codegen.lower.rules import hypot

    assert N._hypot_roots(sp.sqrt(1 + U**2), U) == hypot(U, 1)
    assert N._hypot_roots((U**2 + 2 * U + 5) ** sp.Rational(-3, 2), U) == hypot(U + 1, 2) ** -3
    assert N._hypot_roots(sp.sqrt(U**2 - 1), U) == sp.sqrt(U**2 - 1)  # d < 0: not a hypot
    f = ("5/2*(u*log(u)) + 2*((u - 1)**2/(u + 1)) + 3*(sqrt(1 + u**2)) - 3*sqrt(2)"
         " - (3*sqrt(2)/2 + 5/2)*(u - 1)")
    module, src = _module(f, tmp_path, "hypot")
    assert "_hypot(u, 1.0)" in src
    v = torch.tensor([1000.0], dtype=torch.float64)
    assert 4.127e173 < module.conjugate_of_activation(v).item() < 4.128e173
    assert module.conjugate_of_activation(v.float()).item() == math.inf
    _accurate(module, f, roles=("conjugate_of_activation", "density_ratio"), reach=1000)


def test_a_tanh_activation_is_judged_at_the_digits_it_needs(tmp_path):
    """2 e^(-u/2) + affine, critic range (a, b) with sigma_f = (a + b)/2 + (b - a)/2 tanh(v): sigma_f(1000) lies
    e^-2000 below b. The judge took 0.43 |v| digits, which rounded it onto b, where the ratio is +inf, judged the
    closed ratio (4000, right) wrong and sent the branch numeric: 64 Newton steps, 1490 at v = 1000 and NaN slopes.
    At 0.87 |v| digits for tanh the closed form stays. Its cache entry is also read back: sigma_f(-60), e^-120 from
    the end, no longer fails the entry's check by rounding past it."""
    import warnings

    f = "2*exp(-u/2) - 2*exp(-1/2) + exp(-1/2)*(u - 1)"
    module, src = _module(f, tmp_path, "tanh_judged")
    assert "_piece" not in src
    for dtype in (torch.float32, torch.float64):
        v = torch.tensor([1000.0, 1e4], dtype=dtype, requires_grad=True)
        r = module.density_ratio(v)
        r.sum().backward()
        assert r.tolist() == [4000.0, 40000.0] and v.grad.tolist() == [4.0, 4.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fdiv.derive(f)
        fdiv.derive(f)  # the second from the cache, checked
    _accurate(module, f, roles=("density_ratio", "conjugate_of_activation"))


def test_one_power_of_u_is_inverted_without_solve():
    """3/2 u^(-3/2) was refused: solve ran past its 20 s on -9/(4 u^(5/2)) = -s. f'(u) = c u^p + b is inverted at
    once, ((t - b)/c)^(1/p), checked like every candidate (30 digits); a slipped exponent is rejected."""
    import time

    start = time.process_time()
    d = fdiv.derive("3/2*u**(-3/2)")
    assert time.process_time() - start < 10 and not d.numeric and d.ok
    df = sp.diff(sp.Rational(3, 2) * U ** sp.Rational(-3, 2), U)
    (cand,) = conj._one_power(df, T)
    fn, slope = mp_function(cand, T), mp_function(df, U)
    slipped = mp_function(cand ** sp.Rational(11, 10), T)
    for t in (-3, -0.5, -1e-3):
        assert abs(real_value(slope, real_value(fn, t)) - t) < 1e-25 * abs(t)
        assert abs(real_value(slope, real_value(slipped, t)) - t) > 1e-3 * abs(t)


# seed 5381, index 191 of benchmarks/any_f.py: its numeric piece on u > 1 has one form, anchored at u = 1
_ONE_END = ("4*((sqrt(u) - 1)**4) + 3/2*(Max(1 - u, 0)**(3/2)) + 3*(u*log(u) - (u + 1)*log(u + 1)) - (-log(64)) "
            "- (-log(8))*(u - 1)")


def test_a_form_accurate_at_one_end_only_does_not_serve_the_other(tmp_path):
    """No candidate for f' - f'(1) on u > 1 of this f was accurate at both ends, and the best, 8 (e^w - 1)^3 (1 +
    expm1(-w)) + ..., w = log1p(u - 1)/2, is 0 in its first term from u ~ e^72 on: the table's G was flat there and
    NaN past e^472, every knot above u = 2.45 was bisected to e^471.8, and f*(sigma_f(v)) was -inf from v = 3 in
    both dtypes. The half y > 0 of the piece is now computed in u with a form chosen for u -> oo."""
    module, src = _module(_ONE_END, tmp_path, "one_end")
    assert "gap = torch.where(y < 0, " in src  # the near half in d, the far half in u
    assert "[471.80" not in src  # no knot piled at the form's NaN
    _accurate(module, _ONE_END, roles=("conjugate_of_activation", "density_ratio"), reach=100)


def test_a_table_on_a_form_that_fails_over_its_range_is_refused(tmp_path, monkeypatch):
    """The table is checked against f' itself at high precision over the range it serves: with the far half
    planted out (the one-end form served end to end, as before), gen refuses in one line rather than writing a
    module whose f* is -inf at v = 5; with the check planted out as well, the module it would have written is
    wrong there (the check is what stands between the two)."""
    from fdiv.codegen.lower import numeric

    derivation = fdiv.derive(_ONE_END)
    monkeypatch.setattr(numeric, "_far_half", lambda *a, **k: None)
    with pytest.raises(DerivationError, match="accurate over the range a numeric branch of f\\* serves"):
        render_module(derivation, [])
    monkeypatch.setattr(numeric, "_table_agrees", lambda *a, **k: None)
    module, _ = _module(_ONE_END, tmp_path, "planted")
    v = torch.tensor([5.0, 30.0], dtype=torch.float64)
    assert not torch.isfinite(module.conjugate_of_activation(v)).all()


def test_the_table_check_judges_the_root_not_the_residual():
    """_table_agrees on f = u^2/2 (G = log(f' - 0) = y for u = e^y): the exact G passes; one that is -inf where u <
    1e-17 passes too (a root there is at most 1e-17 off, within the 1e-15 a module is allowed next to 0); one that
    is flat from u = e^50 on (as the one-end form of _ONE_END was) is refused, and so is one 1e-6 off in the
    middle, which moves u* by 1e-6 of itself."""
    from fdiv.codegen.lower import numeric as N

    knots = np.linspace(-700.0, 340.0, 257)
    near = (N._reference(U), np.exp, False)
    rest = ((N._reference(U**2 / 2), np.exp), N._reference(sp.S.One + 0 * U), (0.0, math.inf))

    def check(G):
        N._table_agrees(knots, G, "lo", near, None, *rest)

    check(lambda ys: ys)
    check(lambda ys: np.where(ys < np.log(1e-17), -np.inf, ys))
    with pytest.raises(DerivationError, match="accurate over the range"):
        check(lambda ys: np.minimum(ys, 50.0))
    with pytest.raises(DerivationError, match="accurate over the range"):
        check(lambda ys: ys + 1e-6)


def test_a_table_with_no_finite_index_is_refused(tmp_path):
    """An f whose f' runs from -oo to oo through log and exp terms gave a table whose index range was NaN: every
    knot NaN and nothing to judge it by, so it passed, and the module failed at import (name 'nan' is not
    defined). Such a table is refused (the 64-step iteration, announced with its cost, takes over); this f's own
    pieces now get finite tables."""
    from fdiv.codegen.lower import table

    with pytest.raises(ValueError, match="no finite table index"):
        table.build(np.log, lambda y: (np.exp(y), np.exp(y)), lambda y, tau: 0.0 * y, "identity",
                    (math.nan, 1.0), (-10.0, 10.0))
    f = "3*(-log(u + 1)) + 4*(1/3*u*log(u) - (1/3*u + 2/3)*log(1/3*u + 2/3)) + 1/3*(exp(u/2))"
    module, src = _module(f, tmp_path, "no_nan")
    assert not any(k in src for k in ("([nan", ", nan,", ", nan]"))  # no NaN knot
    _accurate(module, f, roles=("conjugate_of_activation",), reach=100)


def test_the_judge_reference_splits_logs_of_repeated_roots(tmp_path):
    """e^(-(u - 1)/2)/4 + (u - 1)/8 - 1/4: f*(t) = 3t + (1/8 - t) log(64 t^2 - 16 t + 1). Next to t = 1/8 the
    expanded square cancels twice the digits the judge's reference carries: it read -inf at v = 88.7 (f* = 0.375)
    and sent a right closed form numeric (64 Newton steps, 111x Jeffrey). The reference now splits the log as the
    lowering does (2 log|8t - 1|, exact)."""
    f = "1/4*(exp(-(u - 1)/2)) - 1/4 + 1/8*(u - 1)"
    module, src = _module(f, tmp_path, "repeated_reference")
    assert "_piece" not in src
    v = torch.tensor([88.7, 1000.0], dtype=torch.float64)
    assert module.density_ratio(v).tolist() == pytest.approx([354.8, 4000.0], rel=1e-12)
    _accurate(module, f, roles=("conjugate_of_activation", "density_ratio"))


def test_the_judge_rejects_a_planted_wrong_lowering():
    """The judge runs the module's own functions: a conjugate_of_activation 1e-4 off at one logit, or NaN in a
    gradient, is a failure of the closed branch it belongs to; the correct module has none."""
    from fdiv.codegen.emit import _render
    from fdiv.codegen.lower.compose import lower
    from fdiv.codegen.lower.judge import judge

    d = fdiv.derive("kl")
    src = _render(d, lower(d))
    assert judge(d, src) == []
    off = src.replace("def conjugate_of_activation(v):", "def _correct_conjugate_of_activation(v):") + (
        "\n\ndef conjugate_of_activation(v):\n    y = _correct_conjugate_of_activation(v)\n"
        "    return torch.where(v == 5.0, y * 1.0001, y)\n")
    failures = judge(d, off)
    assert {(x.role, x.x) for x in failures} == {("conjugate_of_activation", 5.0)}
    assert {x.dtype for x in failures if x.what == "value"} == {"float32", "float64"}


# ------------------------------------------------------------------------------------ tables and speed
@pytest.mark.parametrize("f", ["exp(u/2) + u*log(u)", "exp(u) + exp(2*u) - log(u)", "Abs(u - 2)**(3/2) + u*log(u)",
                               "Abs(u - 2)**3 + u*log(u)", "u*log(u) - (u + 1)*log(u + 1) + u**2",
                               "exp(u/2)/3 + exp((u - 1)/2)/2 - u",
                               "2/3*((u - 1)**2/(u + 1)) + 3*Abs(u - 3) + 2*exp((u - 1)/2)",
                               "3*(sqrt(u) - 1)**4 + 4*Abs(u - 2) - 2*log(u)"])
def test_tables_converge_for_ordinary_f(f, tmp_path):
    """These fell back to the 64-step float64 Newton iteration (1241-1595x KL's time): every piece now has a table
    that reaches float64 resolution in a few Newton steps, anchored at each finite end of its slope range (in the
    distance to a kink, where one is). The last three came from a seeded campaign: the distance of f' to f'(0+) of
    a sum of exponentials cancelled (e^(u/2)/6 + ... - (1/6 + ...), 1e-7 off next to u = 1e-11, now written with
    expm1), and next to a kink the distance is evaluated to 5e-15 in y, short of the table's 2e-15 whatever the
    knots (now a second try at 1e-14)."""
    module, src = _module(f, tmp_path, "tables")
    assert "_bracketed_newton(" not in src
    _accurate(module, f, roles=("conjugate_of_activation", "density_ratio"))


def test_the_64_step_fallback_is_announced_with_its_cost(tmp_path, capsys, monkeypatch):
    """Where no table converges (planted here: tabulation fails, as for f' like e^(e^y)) the module keeps the
    64-step bracketed Newton iteration, and `fdiv gen` says so with its cost against the catalogue's Jeffrey loss,
    measured in the same process. A module without it gets no such note."""
    from fdiv.cli import main
    from fdiv.codegen.lower import numeric

    monkeypatch.setenv("FDIV_NO_CACHE", "1")
    assert main(["gen", "--f", "(sqrt(u) - 1)**4", "--name", "quartic_tabled", "-o", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "_bracketed_newton(" not in (tmp_path / "quartic_tabled.py").read_text() and "64-step" not in err
    real_decide = numeric.decide
    monkeypatch.setattr(numeric, "decide", lambda what, *a, **k: (False, "planted") if what.startswith("tabulating")
                        else real_decide(what, *a, **k))
    assert main(["gen", "--f", "(sqrt(u) - 1)**4", "--name", "quartic_fallback", "-o", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "_bracketed_newton(" in (tmp_path / "quartic_fallback.py").read_text()
    (note,) = [line for line in err.splitlines() if "64-step" in line]
    assert note.startswith("note: ") and "Jeffrey loss" in note and "measured now" in note
    # 64 float64 steps cost more than one closed form, and not a billion times more: one Jeffrey call timed with a
    # coarse process clock came out 0 and the note said 555170227x
    assert 1 < float(note.split("costs ")[1].split("x the")[0]) < 10_000


# ----------------------------------------------------------------------------------------- determinism
def test_running_out_of_time_fails_the_step_not_the_form():
    """timelimit.decide: SymPy's failure is (False, reason), as attempt gives; running out of time raises, so no
    form is ever chosen by how long a step took."""
    from fdiv._util.timelimit import decide

    assert decide("a failing step", lambda: 1 / 0)[0] is False

    def spin():
        while True:
            sum(range(1000))

    with pytest.MonkeyPatch.context() as m:
        m.setenv("FDIV_TIME_LIMIT", "0.05")
        with pytest.raises(DerivationTimeout):
            decide("a slow step", spin)


@pytest.mark.parametrize("f", ["(1+u)*log((1+u)/sqrt(u)) - (1+u)*log(2)", "u**3 + 1/u"])
def test_same_spec_same_bytes_under_any_time_limit(f, monkeypatch):
    """A derivation that finishes gives the same module whatever the time limit (as on a busy or an idle machine)."""
    monkeypatch.setenv("FDIV_NO_CACHE", "1")
    sources = []
    for limit in ("20", "200"):
        monkeypatch.setenv("FDIV_TIME_LIMIT", limit)
        sources.append(render_module(fdiv.derive(f)))
    assert sources[0] == sources[1]


# ---------------------------------------------------------------------------------------------- plot
def test_plot_of_a_numeric_conjugate(tmp_path, capsys):
    """`fdiv plot` stopped with NameError: PieceConjugate for every numeric conjugate (the README's example)."""
    pytest.importorskip("matplotlib")
    from fdiv.cli import main

    out = tmp_path / "q.png"
    assert main(["plot", "--f", "(sqrt(u) - 1)**4", "-o", str(out)]) == 0
    assert out.stat().st_size > 10_000


# ------------------------------------------------------------------------- forms that do not overflow first
RATIONAL_F = "(u - 1)**2/(u + 1) + 2/3*((u + 3)*log(u + 3))"


def test_a_rational_term_is_written_as_quotients_that_do_not_overflow(tmp_path):
    """(u - 1)^2/(u + 1) over one denominator overflows float64 at u ~ 1.3e154, where f is ~1e154 and f* at t =
    f'(u) is still a float: the solver's table stopped there and f*(sigma(1000)) came out 5e156 where it is +inf
    (u* = e^1497). Written as (u - 1) ((u - 1)/(u + 1)) it is a float wherever its value is; the module then gives
    +inf past the range and the exact value inside it (fdiv.testing's tolerance: 1e-11 relative in float64)."""
    from fdiv.codegen.lower import numeric
    from fdiv.codegen.lower.numpy_model import numpy_function

    f = parse(RATIONAL_F, {"u": U})
    chosen = numeric._simplest(f, "simplifying f")
    u = 1e200
    with mpmath.workdps(60):
        exact = mp_function(f, U)(mpmath.mpf(u))
    with np.errstate(over="ignore"):
        assert not np.isfinite(numpy_function(f, U)(np.float64(u)))  # the form as written: the planted overflow
        got = float(numpy_function(chosen, U)(np.float64(u)))
    assert abs(got - exact) <= 1e-13 * abs(exact), (chosen, got, exact)
    module, _ = _module(RATIONAL_F, tmp_path, "rational_f")
    v = torch.tensor([300.0, 1000.0], dtype=torch.float64)
    out = module.conjugate_of_activation(v)
    assert out[1] == math.inf
    report = ft.check_loss(module.conjugate_of_activation, RATIONAL_F, role="conjugate_of_activation",
                           logits=[300.0, 1000.0, 1e4])
    assert report.ok, report.text()


# --------------------------------------------------------------------- the critic loss's fused backward pass
FUSED_FS = ["-3*u**(1/3)", "1/3*(1/4*u*log(u) - (1/4*u + 3/4)*log(1/4*u + 3/4))"]


def _peaks(f: str) -> tuple[int, int]:
    """(fused, autograd's graph): the critic loss's peak in tensors of the batch, counted exactly (gen's count)."""
    from dataclasses import replace

    from fdiv.codegen.emit import _peak_tensors, _render
    from fdiv.codegen.lower.compose import lower

    d = fdiv.derive(f)
    low = lower(d)
    assert low.conjugate_of_activation_slope is not None
    return _peak_tensors(_render(d, low)), _peak_tensors(_render(d, replace(low, conjugate_of_activation_slope=None)))


def test_a_one_sided_critic_range_gets_the_fused_backward_pass_where_it_lowers_the_peak(tmp_path):
    """-3 u^(1/3) (critic range (-oo, 0)): the critic loss's backward pass is the derivation's slope
    (f')^-1(sigma_f(v)) sigma_f'(v), in log space where the ratio overflows before the product ((-t)^(-3/2) at v =
    88.7 in float32), right over the whole grid (fdiv.testing: 1e-5 relative in float32, 1e-11 in float64), and
    its peak is 5 tensors of the batch against 6 through autograd. A weighted GAN-family f has a slope too, but
    fused its peak is higher (9 against 8: the fused forward pass forms f*(sigma_f(v)) whole): autograd's there."""
    f = FUSED_FS[0]
    module, src = _module(f, tmp_path, "fused")
    assert "_CriticFake.apply(v_fake)" in src
    _accurate(module, f, roles=("critic_loss",))
    fused, graph = _peaks(f)
    assert fused < graph, (fused, graph)
    gan_family = FUSED_FS[1]
    fused, graph = _peaks(gan_family)
    assert fused > graph and "_CriticFake" not in render_module(fdiv.derive(gan_family)), (fused, graph)


def test_the_judge_rejects_a_planted_wrong_fused_slope(monkeypatch):
    """A fused slope 1e-4 off is a critic_loss failure of the judge (the correct one has none), and gen then
    differentiates the critic loss by autograd, with a note."""
    from dataclasses import replace

    from fdiv.codegen import emit
    from fdiv.codegen.emit import _render
    from fdiv.codegen.lower.compose import lower
    from fdiv.codegen.lower.judge import judge

    d = fdiv.derive(FUSED_FS[0])
    low = lower(d)
    assert low.conjugate_of_activation_slope is not None and judge(d, _render(d, low)) == []
    wrong = replace(low, conjugate_of_activation_slope=low.conjugate_of_activation_slope * sp.Rational(10001, 10000))
    failures = judge(d, _render(d, wrong))
    assert failures and {x.role for x in failures} == {"critic_loss"}
    monkeypatch.setattr(emit, "lower", lambda _: wrong)
    notes: list[str] = []
    src = render_module(d, notes)
    assert "_CriticFake" not in src and any("fused backward pass" in n for n in notes)


def test_log_of_the_slope_folds_v_minus_softplus():
    """v - softplus(v) is -softplus(-v) (exact), so 1000 - 1000 is never formed in float32."""
    from fdiv.codegen.lower.compose import _fold_linear_softplus
    from fdiv.codegen.lower.rules import softplus
    from fdiv.derivation.activation import V

    e = 2 * V - 2 * softplus(V) + sp.log(3)
    folded = _fold_linear_softplus(e)
    assert folded == -2 * softplus(-V) + sp.log(3)
    assert _fold_linear_softplus(V - 2 * softplus(V)) == V - 2 * softplus(V)  # k != -m s: left as it is


@pytest.mark.parametrize("name, x, dtype", [("sigmoid", -30.0, np.float64), ("log_softplus", -100.0, np.float32),
                                            ("log1mexp_ratio", 0.0, np.float64), ("log1mexp_ratio", 1e-9, np.float32)])
def test_the_numpy_model_is_as_accurate_as_the_torch_runtime(name, x, dtype):
    """The numpy twins that score forms: 1/2 (1 + tanh(x/2)) was 6e-4 off at -30, log of a subnormal softplus 2.5 %
    off at -100 in float32, log((1 - e^-x)/x) NaN at 0; each within 4 ulps of mpmath now, as torch's runtime is."""
    from fdiv.codegen.lower.numpy_model import HELPERS

    exact = {"sigmoid": lambda y: 1 / (1 + mpmath.exp(-y)), "log_softplus": lambda y: mpmath.log(mpmath.log1p(mpmath.exp(y))),
             "log1mexp_ratio": lambda y: -y / 2 if y == 0 else mpmath.log(-mpmath.expm1(-y) / y)}[name]
    with mpmath.workdps(50):
        ref = float(exact(mpmath.mpf(x)))
    got = float(HELPERS[name](np.asarray([x], dtype=dtype))[0])
    assert abs(got - ref) <= 4 * np.finfo(dtype).eps * abs(ref), (got, ref)


LOG_POWER_F = "3*((sqrt(u) - 2)**2) + 4*(u*log(u)) + 1/4*(u*log(u)) + 3 + 3*u"


def test_a_log_beside_a_power_of_u_is_inverted_without_solve(monkeypatch):
    """f' = 17/4 log u + 41/4 - 6/sqrt(u) (seed 4711's refusal: solve ran past its 20 s) is inverted by Lambert's W:
    u^(-1/2) = k/c W(c/k e^((t - a)/k)), k = b/p. The derivation is closed and never asks solve; its inverse
    satisfies f'(u(t)) = t to 25 digits from t = -50 to 50. Where c p/b < 0 (two real branches of W) the rule
    gives nothing."""
    monkeypatch.setattr(conj, "_solved", lambda *a: pytest.fail("solve was asked"))
    d = fdiv.derive(LOG_POWER_F)
    assert d.ok and not d.numeric and d.conjugate.has(sp.LambertW)
    f = parse(LOG_POWER_F, {"u": U})
    df = sp.diff(f, U)
    (inverse,) = conj._lambert_log_power(df, T)
    u_of_t, df_of_u = mp_function(inverse, T), mp_function(df, U)
    with mpmath.workdps(40):
        for t in ("-50", "-3.5", "0", "4.25", "50"):
            u = u_of_t(mpmath.mpf(t))
            assert abs(df_of_u(u) - mpmath.mpf(t)) < mpmath.mpf(10) ** -25 * (1 + abs(mpmath.mpf(t)))
    assert conj._lambert_log_power(sp.log(U) + U ** sp.Rational(-1, 2), T) == []
    assert conj._lambert_log_power(sp.log(U) + U, T) == []  # p = 1: _lambert_linear's


def test_a_lambert_log_power_closed_form_is_accurate(tmp_path):
    """2 u log u + 2 u^(3/2) + affine: f* by Lambert's W (a + b log u + c sqrt(u)), kept closed by the judge, right
    to fdiv.testing's tolerance over the grid to |v| = 1000 (1e-5 relative in float32, 1e-11 in float64)."""
    f = "2*(u*log(u)) + 2*(u**(3/2)) - 2 - 5*(u - 1)"
    module, src = _module(f, tmp_path, "lambert_power")
    assert "_wright_omega" in src and "_piece0" not in src
    _accurate(module, f, reach=1000)


def test_the_fused_pass_is_taken_only_where_it_saves_memory():
    """The choice is the critic loss's peak memory counted exactly (fdiv.codegen.memory), not a timing: squared
    Hellinger's is 5 tensors of the batch fused and 7 through autograd, so the catalogue's module is fused; the GAN
    row (3 and 3), total variation (4 and 4) and reverse KL keep autograd's kernels, where the fused pass saves
    nothing (the GAN row ran at 1.35x its hand-written loss fused)."""
    from pathlib import Path

    source = {name: Path(importlib.util.find_spec(f"fdiv.losses.{name}").origin).read_text()
              for name in ("gan", "total_variation", "squared_hellinger", "reverse_kl")}
    for name in ("gan", "total_variation", "reverse_kl"):
        assert "_CriticFake" not in source[name], name
        fused, graph = _peaks(name.replace("_", "-"))
        assert fused >= graph, (name, fused, graph)
    assert "_CriticFake.apply(v_fake)" in source["squared_hellinger"]
    fused, graph = _peaks("squared-hellinger")
    assert fused <= graph - 2, (fused, graph)


HYPOT_GAN_F = "3/2*(sqrt(1 + u**2)) + 3/2*(u*log(u) - (u + 1)*log((u + 1)/2))"


def test_rational_terms_beside_a_root_are_factored_where_their_partial_fractions_cancel(tmp_path):
    """f'' of 3/2 sqrt(1 + u^2) beside a GAN term (seed 4711, index 9): grouped by root with the rational terms
    in partial fractions it is 3/(2 hypot^3) + 3/(2u) - 3/(2(u + 1)), whose last two terms cancel as u grows (the
    density ratio's slope 1e-3 off at v = 30 in float64); factored, 3/(2u(u + 1)) does not. The chosen f'' is
    within 1e-13 of mpmath from u = 2^-1000 to 2^1000, and the module's ratio slope passes fdiv.testing."""
    from fdiv.codegen.lower import numeric as N

    f = parse(HYPOT_GAN_F, {"u": U})
    e = sp.diff(N._plain(sp.diff(f, U)), U)
    reference = N._reference(e, U)
    apart = N._hypot_roots(N._grouped_by_root(e, U), U)
    assert N._error(apart, N._EVERYWHERE, var=U, reference=reference) > 0  # the planted cancellation
    chosen = N._simplest(e, "simplifying f''")
    assert N._error(chosen, N._EVERYWHERE, var=U, reference=reference) == 0, chosen
    module, _ = _module(HYPOT_GAN_F, tmp_path, "hypot_gan")
    report = ft.check_loss(module.density_ratio, HYPOT_GAN_F, role="density_ratio", logits=[5.0, 20.0, 30.0, 35.0])
    assert report.ok, report.text()


KINK_DISTANCE_F = "3*(Max(u - 3, 0)**(3/2)) + 1/4*(u**(-1/3)) + 1/2 + u"


def test_a_numeric_piece_reads_the_distance_to_its_end_in_its_value(tmp_path):
    """Seed 31337, index 95: on the piece u > 3, f*(1) has u* = 3 + 1.8e-5, which float32 rounds to 3.0000184, so
    sqrt(Max(u - 3, 0)) was 0.1 % off and f* 9e-5. The value now reads d = u - 3 as the map gives it (e^y, exact);
    f*(1) and f*(sigma_f(v)) pass fdiv.testing (1e-5 relative in float32) where they did not."""
    from fdiv.codegen.lower.numeric import _D, NumericPiece, _with_distance

    module, src = _module(KINK_DISTANCE_F, tmp_path, "kink_distance")
    assert "_rest(u, d)" in src
    for role in ("conjugate", "conjugate_of_activation", "critic_loss"):
        report = ft.check_loss(getattr(module, role), KINK_DISTANCE_F, role=role, logits=[0.0, 1.0, -1.0, 5.0])
        assert report.ok, report.text()
    piece = NumericPiece(index=0, f=U, lo=sp.Integer(3), hi=sp.oo, slope_lo=sp.Integer(1), slope_hi=sp.oo)
    e = sp.sqrt(sp.Max(U - 3, 0)) * (U + 6)
    assert _with_distance(e, piece, "lo") == sp.sqrt(_D) * (_D + 9)  # u = 3 + d throughout


def test_roots_of_u_beside_another_root_are_eliminated_before_solve(monkeypatch):
    """5/2 |u - 2|^(3/2) - 2/3 sqrt(u) (seed 8191, index 17, refused: solve ran past its 20 s): f' = 15/4 sqrt(u - 2)
    - 1/(3 sqrt(u)) = t is of degree 4 once both roots are eliminated, so the branch is numeric by rule and solve is
    never asked. u/sqrt(1 + u^2) = t (degree 2) is still left to solve."""
    from fdiv.derivation.validate import _pieces

    f = parse("5/2*(Abs(u - 2)**(3/2)) + 2/3*(-sqrt(u))", {"u": U})
    assert all(conj._radicals_over_budget(p.df) for p in _pieces(f, "f") if not p.affine)
    assert not conj._radicals_over_budget(U / sp.sqrt(1 + U**2))
    monkeypatch.setattr(conj, "_solved", lambda *a: pytest.fail("solve was asked"))
    d = fdiv.derive("5/2*(Abs(u - 2)**(3/2)) + 2/3*(-sqrt(u))")
    assert d.ok and d.numeric


REPEATED_ROOT_POWER_F = "1/4*(-u**(2/3)) - 2 + 3*u"


def test_a_power_of_a_repeated_root_is_factored_and_judged_next_to_the_end(tmp_path, monkeypatch):
    """-u^(2/3)/4 + 3u (seed 8191, index 72): f* = 1/(432 t^2 - 2592 t + 3888) + 2 expanded, 1e11 times too small
    at t = sigma_f(30) = 3 - 9e-14 in float64 and 2.5e-3 off at sigma_f(5) in float32. The judge now compares f* at
    t = sigma_f(v) as well, where it caught the planted expanded form; factored, 1/(432 (t - 3)^2) passes it and
    fdiv.testing at those t."""
    from fdiv.codegen.emit import _render
    from fdiv.codegen.lower import rules
    from fdiv.codegen.lower.compose import lower
    from fdiv.codegen.lower.judge import judge

    d = fdiv.derive(REPEATED_ROOT_POWER_F)
    assert judge(d, _render(d, lower(d))) == []
    monkeypatch.setattr(rules, "RULES", tuple(r for r in rules.RULES if r is not rules.rule_power_repeated_factor))
    failures = judge(d, _render(d, lower(d)))
    assert any(x.role == "conjugate" and 2.99 < x.x < 3 for x in failures), failures
    monkeypatch.undo()
    module, src = _module(REPEATED_ROOT_POWER_F, tmp_path, "repeated_power")
    assert "/ (t_0 - 3.0)) ** 2" in src  # factored (and its constant folded into the base)
    report = ft.check_loss(module.conjugate_of_activation, REPEATED_ROOT_POWER_F, role="conjugate_of_activation",
                           logits=[5.0, 30.0, 100.0])
    assert report.ok, report.text()
    t = module.activation(torch.tensor([5.0, 30.0], dtype=torch.float64))
    report = ft.check_loss(module.conjugate, REPEATED_ROOT_POWER_F, role="conjugate", logits=t.tolist())
    assert report.ok, report.text()


def test_rule_power_repeated_factor_keeps_the_real_value():
    """The rule factors only where the value stays the same real number: (t^2 - 2t + 1)^(3/2) is |t - 1|^3 (not
    (t - 1)^3, negative for t < 1); a fractional power of an odd multiplicity, (t - 1)^(3/2) expanded, is left
    alone; -1/(t^2 - 2t + 1) keeps its sign."""
    from fdiv.codegen.lower.rules import rule_power_repeated_factor as rule

    t = sp.Symbol("t", real=True)
    assert rule((t**2 - 2 * t + 1) ** sp.Rational(3, 2)) == sp.Abs(t - 1) ** 3
    odd = sp.sqrt(t**3 - 3 * t**2 + 3 * t - 1)
    assert rule(odd) == odd
    assert rule(1 / (-t**2 + 2 * t - 1)) == -1 / (t - 1) ** 2
    for x in (sp.Rational(-7, 3), sp.Rational(1, 5), sp.Integer(4)):
        e = 1 / (432 * t**2 - 2592 * t + 3888)
        assert sp.simplify(rule(e).subs(t, x) - e.subs(t, x)) == 0


def test_the_cache_check_reads_an_infinite_end_at_enough_digits():
    """f* = 1/(432 t^2 - 2592 t + 3888) + 2 (-u^(2/3)/4 + 3u) has an infinite limit at t = 3: read at 30 digits, the
    expansion cancelled to the same garbage at 3 - 1e-20 and 3 - 1e-40, the end looked finite and every cache entry
    of this f was refused as lying. At 110 digits the check passes; an entry that claims the end closed still fails."""
    from fdiv.derivation.cachecheck import problem

    d = fdiv.derive(REPEATED_ROOT_POWER_F)
    f = parse(REPEATED_ROOT_POWER_F, {"u": U})
    assert problem(d, f, {}) is None
    from dataclasses import replace

    closed = replace(d, conjugate_domain=replace(d.conjugate_domain, upper_closed=True))
    assert problem(closed, f, {}) is not None


# ------------------------------------------------------------------- tables for ordinary f's (the 64-step fallback)
TABLE_FS = {
    # f' flat next to its cusp at u = 1, shifted by -1/2: the expanded f' rounded the root off by 2e-5 in log u
    "cusp": "(sqrt(u) - 1)**4 + 1 - 1/2*u",
    # the distance of f' to f'(2-) in d = 2 - u: 1/(3 (2 - d)^(4/3)) - 2^(2/3)/12 cancelled as d -> 0 (with + u
    # in place of e^(u/4) the f is closed since a root of a constant is no sign of Cardano's formulas)
    "power gap": "u**(-1/3) + 4*(Max(2 - u, 0)) - 1/2 + exp(u/4)",
    # seed 27182 index 71: b - f'(u) ~ u^-2/2; past u = e^46 the forward pass takes the asymptote, and the table
    # had to reach tau = 709 as well, where f''(u) du underflows and no Newton step was taken
    "tail": "4*sqrt(1 + u**2) - 4*sqrt(2) - 2*sqrt(2)*(u - 1)",
    # seed 27182 index 170: f'' only decays towards u = oo (1e-14 at u = e^30); it was taken for a cusp there
    "no cusp": "4*((u - 1)**2/(u + 2)) + 1/4*(3/4*u*log(u) - (3/4*u + 1/4)*log(3/4*u + 1/4))",
    # seed 27182 index 89: f' = 5 e^(2u) + ...; f''(u) u overflows float64 at the root where f' = 1e306 does not
    "slog overflow": "5/2*exp(2*u) + 1/4*(u*log(u) - (u + 1)*log(u + 1)) - (-log(2)/2 + 5*exp(2)/2)"
                     " - (-log(2)/4 + 5*exp(2))*(u - 1)",
    # seed 9001 index 44: f' - f'(0) cancels at u -> 0 unless e^u's, the log's and the rational part's constants
    # cancel together (2 expm1(u) + 3 log1p(2u) + 8u (u + 6)/(3 (u + 3)^2)); no candidate had all three
    "three constants": "3*((u + 1/2)*log(u + 1/2)) + 2*(exp(u)) + 3/2*((u - 1)**2/(u + 3))",
}


@pytest.mark.parametrize("label", sorted(TABLE_FS))
def test_ordinary_fs_get_a_table_not_the_64_step_fallback(label, tmp_path, monkeypatch):
    """Seed 5150's, 27182's and 9001's f's that fell back to 64 bracketed Newton steps (18-87x Jeffrey's time): a table
    and a few steps now, with no note of the fallback, and values and gradients right over the grid (fdiv.testing:
    1e-5 relative in float32, 1e-11 in float64). "tail" is closed now (its radicands factored), and its table is
    built on the numeric path forced."""
    f = TABLE_FS[label]
    if label == "tail":
        monkeypatch.setattr(conj, "FORCE_NUMERIC", True)
    notes: list[str] = []
    module, src = _module(f, tmp_path, "tabled", notes)
    assert "_bracketed_newton" not in src and not any("64-step" in n for n in notes), notes
    assert "_KNOTS = " in src and "_ZS = " not in src  # the knots in y only (half the text)
    _accurate(module, f)


def test_the_rewrites_that_keep_a_vanishing_difference_exact():
    """Two candidate forms, each kept only where it scores better: a power of a sum spread over a monomial
    (2 (sqrt(u) - 1)^3/sqrt(u) as 2 (sqrt(u) - 1)^2 (1 - 1/sqrt(u))) and a power's difference from its value at
    d = 0 as expm1(p log1p(...)). Each is the same function (30 digits at drawn points) and accurate where the
    form it replaces is not."""
    from fdiv.codegen.lower import numeric as N

    d = N._D
    spread = N._power_spread(2 * (sp.sqrt(U) - 1) ** 3 / sp.sqrt(U) - sp.Rational(1, 2), U)
    assert spread == 2 * (sp.sqrt(U) - 1) ** 2 * (1 - 1 / sp.sqrt(U)) - sp.Rational(1, 2)
    gap = 1 / (3 * (2 - d) ** sp.Rational(4, 3)) - 2 ** sp.Rational(2, 3) / 12
    vanishing = N._vanishing_powers(gap, d)
    assert not vanishing.has(sp.Pow) or all(not p.base.has(d) for p in vanishing.atoms(sp.Pow))
    ours, exact = N._reference(vanishing, d), N._reference(gap, d)
    for x in (1e-3, 0.5, 1.5):
        assert abs(ours(x) - exact(x)) <= 1e-25 * abs(exact(x))
    assert N._error(gap, N._NEAR["lo"], reach=True, var=d) > 0  # the planted cancellation
    assert N._error(vanishing, N._NEAR["lo"], reach=True, var=d) == 0
    # next to the cusp the spread form is within two ulps of f', the expanded one is not
    expanded = sp.expand(spread)
    reference = N._reference(expanded)
    assert N._flat_accurate(spread, 1.0, reference) and not N._flat_accurate(expanded, 1.0, reference)


def test_the_judge_places_sigma_f_v_at_the_digits_it_carries(monkeypatch):
    """Seed 8191's timeout: 3 Max(3 - u, 0)^3 + u^(4/3)/2 + affine, critic range (-137/3, oo). At v = -1e4,
    sigma_f(v) = -137/3 + e^-10000 lies in the numeric branch; placed at the default 15 digits it fell below the end
    rounded to 25 and the boundary branch was judged there, its reference solving the numeric branch at 4400 digits
    (gen ran past its 200 s). The judge now never solves a numeric branch at thousands of digits."""
    from fdiv.codegen.emit import _render
    from fdiv.codegen.lower.compose import lower
    from fdiv.codegen.lower.judge import judge
    from fdiv.derivation import inverse

    d = fdiv.derive("3*(Max(3 - u, 0)**3) + 1/2*(u**(4/3)) - (49/2) - (-106/3)*(u - 1)")
    solve = inverse._solve

    def bounded(*args, **kwargs):
        assert mpmath.mp.dps < 1000, "the judge solved a numeric branch at thousands of digits"
        return solve(*args, **kwargs)

    monkeypatch.setattr(inverse, "_solve", bounded)
    failures = judge(d, _render(d, lower(d)))  # (the quartic's expanded form cancels at v = 88.7: gen lowers it
    assert all(x.branch == 3 for x in failures), failures  # numerically then); the boundary branch is right


# --------------------------------------------------------------- a closed end of dom f*, a tanh activation's sums
EXP_F = "2*(exp(-(u - 1))) - 1 + u"  # f* = 2t + (1 - t) log(1 - t) + (t - 1) log 2 - 1 on (1 - 2e, 1], f*(1) = 1


def test_x_log1p_x_vanishes_at_a_closed_end_of_dom_f_star():
    """(1 - t) log1p(-t) at t = 1 is 0 * -inf = NaN; k (1 + y) log1p(y) is lowered as k xlog1px(y), 0 there, with
    slope log1p(y) + 1 (+inf for f*'s at t = 1, where autograd's was NaN), and the same number elsewhere. A product
    whose factors do not vanish together is left alone."""
    from fdiv.codegen.lower.numpy_model import numpy_function
    from fdiv.codegen.lower.rules import apply_rules, log1p, xlog1px

    e = 3 * (1 - T) * log1p(-T) + T
    ruled = apply_rules(e)
    assert ruled.has(xlog1px) and not ruled.has(log1p)
    with np.errstate(all="ignore"):
        assert np.isnan(numpy_function(e, T, rules=False)(np.float64(1.0)))  # the planted 0 * -inf
    fn = numpy_function(ruled, T, rules=False)
    assert fn(np.float64(1.0)) == 1.0 and abs(fn(np.float64(0.5)) - (1.5 * math.log(0.5) + 0.5)) < 1e-15
    assert not apply_rules(T * log1p(-T)).has(xlog1px)  # t and 1 - t do not vanish together


def test_a_sum_of_tanh_terms_that_cancels_is_not_chosen(tmp_path):
    """2 e^(1 - u) + u - 1 with sigma_f(v) = e tanh(v) - e + 1: the shortest composition (terms of 270 for a value
    of 1 at v = 50) scored right in numpy and was 1e-5 off in the module, so the closed f* was sent numeric and its
    density ratio stopped at 747 where it is 2000. Scored for cancellation (_fragile), it is not chosen; the tanh
    written from the end it approaches is. The module is closed, f*(1) = 1 (not NaN) and it passes fdiv.testing
    (1e-5 relative in float32, 1e-11 in float64) over the whole grid."""
    from fdiv.codegen.lower.compose import _fragile
    from fdiv.derivation.activation import V

    module, src = _module(EXP_F, tmp_path, "exp_f")
    assert "_piece" not in src and "_xlog1px(" in src
    _accurate(module, EXP_F, roles=("conjugate_of_activation", "density_ratio", "critic_loss"))
    t = torch.tensor([1.0], requires_grad=True)
    value = module.conjugate(t)
    value.sum().backward()
    assert float(value.detach()[0]) == 1.0 and float(t.grad[0]) == math.inf  # f*'(t) = u*(t) -> oo as t -> 1
    e = sp.E
    cancelling = -e * (sp.log(2) - 2 * V) * sp.tanh(V) + e * (sp.log(2) - 2 * V) + e * sp.tanh(V) - e + 1
    exact = {"float32": (np.array([50.0], dtype=np.float32), [mpmath.mpf(1)])}
    assert _fragile(cancelling, exact) == 1 and _fragile(sp.S.One + sp.exp(-V), exact) == 0


def test_the_tanh_halves_are_printable(tmp_path):
    """Seed 6007's gen failure: 2 e^(-(u - 1)/2) chose the halves of its tanh activation written with v >= 0,
    which the printers do not lower ("cannot lower the condition v >= 0"). Written v < 0 first they are, a
    candidate the printers cannot lower is never chosen, and the module passes fdiv.testing."""
    from fdiv.codegen.lower.compose import _printable, _tanh_split
    from fdiv.codegen.lower.rules import apply_rules
    from fdiv.derivation.activation import V

    assert _printable(apply_rules(_tanh_split(2 * sp.E * sp.tanh(V) - 2 * sp.E + 1)))
    f = "2*(exp(-(u - 1)/2))"
    module, _ = _module(f, tmp_path, "exp_half")
    _accurate(module, f, roles=("conjugate_of_activation", "density_ratio", "critic_loss"))


def test_t_log_t_vanishes_at_a_closed_end_and_a_helper_constant_prints(tmp_path):
    """Seed 6007: f* of 2 e^(-(u - 1)/2) holds t log(-t) (lowered as xlogx(-t), 0 at t = 0), and was NaN at the
    closed end t = 0 of dom f*, where it is 0 (its slope there, u*(0) = oo, is +inf); 1/2 e^(2(u - 1)) - u + 1/2
    had a critic loss whose constant held expm1(-2) (from the tanh halves), which gen compared with 0 and raised
    TypeError on. Both generate, and agree with fdiv.testing over the grid."""
    from fdiv.codegen.lower.rules import apply_rules, xlogx

    assert apply_rules(3 * T * sp.log(-T)).has(xlogx) and not apply_rules(sp.exp(T) * sp.log(-T)).has(xlogx)
    f = "2*(exp(-(u - 1)/2))"
    module, src = _module(f, tmp_path, "t_log_t")
    t = torch.tensor([0.0, -0.5], dtype=torch.float64, requires_grad=True)
    value = module.conjugate(t)
    value.sum().backward()
    assert float(value[0]) == 0.0 and float(t.grad[0]) == math.inf
    _accurate(module, f, roles=("conjugate", "conjugate_of_activation"))
    g = "1/2*(exp(2*(u - 1))) - (1/2) - (1)*(u - 1)"
    module, _ = _module(g, tmp_path, "helper_constant")
    _accurate(module, g, roles=("critic_loss",))


def test_a_gap_that_cancels_is_caught_away_from_powers_of_two(tmp_path):
    """b - f'(u) for 1/4 sqrt(1 + u^2) - 4 log u + affine: -u/(4 hypot(u, 1)) + 1/4 + 4/u loses every digit of its
    last two terms by u = 1e13, but at u = 2^k u/hypot(u, 1) rounds exactly, and scored there it looked exact (the
    density ratio was 4e-5 off at v = 30 in float64, seed 6007). The scoring points are off the powers of 2."""
    from fdiv.codegen.lower import numeric

    f = "4*(-log(u)) + 1/4*(sqrt(1 + u**2)) - sqrt(2)/4 - (-4 + sqrt(2)/8)*(u - 1)"
    cancelling = sp.sympify("-u/(4*hypot(u, 1)) + 1/4 + 4/u", locals={"u": U, "hypot": numeric.hypot})
    reference = numeric._reference(cancelling.subs(numeric.hypot(U, 1), sp.sqrt(1 + U**2)))
    assert numeric._error(cancelling, [2.0**k for k in range(0, 1001, 20)], reach=True, reference=reference) == 0
    assert numeric._error(cancelling, numeric._NEAR["hi"], reach=True, reference=reference) > 0
    module, _ = _module(f, tmp_path, "gap_hypot")
    _accurate(module, f, roles=("density_ratio", "conjugate_of_activation"))


def test_rational_terms_that_cancel_at_an_end_are_combined(tmp_path):
    """f'' = 24/u^4 + 1/(3 u^(5/3)) + 1/(8u) - 1/(8u + 24) (a weighted GAN-family term beside powers, seed 6007):
    apart, the last two cancel (the density ratio's slope was 3e-5 off at v = 30) and, summed left to right, absorb
    the power (f'' = 0 at u = 5e64: an infinite slope at v = 100 in float64). Paired they are 3/(8u (u + 3))."""
    from fdiv.codegen.lower import numeric

    apart = sp.sympify("24/u**4 + 1/(3*u**(5/3)) + 1/(8*u) - 1/(8*u + 24)", locals={"u": U})
    reference = numeric._reference(apart)
    assert numeric._error(apart, numeric._EVERYWHERE, reference=reference) > 0  # the planted form: rejected
    paired = numeric._cancelling_pairs(apart, U)
    assert sp.simplify(paired - apart) == 0
    assert numeric._error(paired, numeric._EVERYWHERE, reference=reference) == 0
    f = "1/2*(1/4*u*log(u) - (1/4*u + 3/4)*log(1/4*u + 3/4)) + 4*u**(-2) - 3/2*u**(1/3) + 2 - u/2"
    module, _ = _module(f, tmp_path, "paired_rational")
    _accurate(module, f, roles=("density_ratio",))


def test_x_log_of_a_square_vanishes_at_a_closed_end_of_dom_f_star(tmp_path):
    """Seed 6007: f* of e^(-(u - 1)/2) + 5/2 Max(2 - u, 0)^3 is 3t - t log(4 t^2) next to t = 0, whose log the
    rules write as 2 log|t| + log 4: t (2 log|t| + log 4) is 0 * -inf = NaN at t = 0, where f* is 0. Distributed, t
    log|t| is xlogx(t) = t log|t|, 0 there (slope +inf, as f*'s is), and the same number elsewhere."""
    from fdiv.codegen.lower.numpy_model import numpy_function
    from fdiv.codegen.lower.rules import apply_rules, xlogx

    e = 3 * T - T * sp.log(4 * T**2)
    ruled = apply_rules(e)
    assert ruled.has(xlogx) and not ruled.has(sp.log(sp.Abs(T)))
    fn = numpy_function(ruled, T, rules=False)
    with np.errstate(all="ignore"):
        assert np.isnan(numpy_function(3 * T - T * (2 * sp.log(sp.Abs(T)) + sp.log(4)), T, rules=False)(0.0))
    assert fn(np.float64(0.0)) == 0.0 and abs(fn(np.float64(-0.25)) - float(e.subs(T, -0.25))) < 1e-15
    f = "5/2*Max(2 - u, 0)**3 + exp(-(u - 1)/2)"
    module, _ = _module(f, tmp_path, "x_log_square")
    for dtype in (torch.float32, torch.float64):
        t = torch.tensor([0.0, -0.0], dtype=dtype, requires_grad=True)
        value = module.conjugate(t)
        value.sum().backward()
        assert value.tolist() == [0.0, 0.0] and t.grad.tolist() == [math.inf, math.inf]
    _accurate(module, f, roles=("conjugate", "conjugate_of_activation"))


def test_a_small_constant_over_a_power_is_folded_into_its_base(tmp_path):
    """f* = 1/(432 t^2) of -u^(2/3)/4 (seed 6007): printed as c/t^2, reverse mode formed (t^2)^2 = 0 in float32 at
    t = -9.4e-14 and the slope, 5.65e36, came out inf. Printed as (k/t)^2 (k = c^(1/2)) it is within 1e-5 of the
    exact slope -2c/t^3 (float32's tolerance); where the slope itself overflows it is inf."""
    module, src = _module("-u**(2/3)/4", tmp_path, "scaled_power")
    assert "/ t_0) ** 2" in src
    t = torch.tensor([-9.35762291e-14, -1.0, -1e-20], requires_grad=True)
    module.conjugate(t).sum().backward()
    x = [mpmath.mpf(float(a)) for a in t.detach()]
    exact = [-2 / (432 * a**3) for a in x]
    assert all(abs(float(g) - float(s)) <= 1e-5 * float(s) for g, s in zip(t.grad[:2], exact[:2]))
    assert t.grad[2] == math.inf
    planted = torch.tensor([-9.35762291e-14], requires_grad=True)
    (1 / 432 / planted**2).sum().backward()
    assert planted.grad[0] == math.inf  # the unfolded form
    _accurate(module, "-u**(2/3)/4", roles=("conjugate", "conjugate_of_activation", "critic_loss"))


def test_a_piece_takes_the_log_of_its_distance_itself(tmp_path):
    """2/3 sqrt(1 + u^2) + Max(1/2 - u, 0) + 1/3 u log u + affine (seed 6007): f*'s slope at t = 30 is u* = 1.36e37,
    a float32, but through log_gap(t - a) the piece's slope in log(t - a) is u* (t - a) = 4e38, past float32, and the
    result was inf. The piece now takes the distance and forms the slope in it in float64."""
    import re

    f = "2/3*sqrt(1 + u**2) + Max(1/2 - u, 0) + 1/3*u*log(u) + 3 + u/2"
    module, src = _module(f, tmp_path, "gap_piece")
    (name,) = set(re.findall(r"(_piece\d+_lo)_gap\(", src.split("def conjugate(")[1]))
    t = torch.tensor([30.0], requires_grad=True)
    module.conjugate(t).sum().backward()
    t64 = torch.tensor([30.0], dtype=torch.float64, requires_grad=True)
    module.conjugate(t64).sum().backward()
    assert abs(float(t.grad[0]) - float(t64.grad[0])) <= 1e-5 * float(t64.grad[0]) < math.inf
    d = torch.tensor([30.0 - 0.9004266701466569], requires_grad=True)
    getattr(module, name)(module._log_gap(d)).sum().backward()
    assert d.grad[0] == math.inf  # the chain through log_gap, as it was
    _accurate(module, f, roles=("conjugate", "conjugate_of_activation", "critic_loss"))


def test_a_log_of_a_varying_power_is_the_last_composition_tried(tmp_path):
    """4 e^(-u) + affine (seed 6007): the shortest composition of f* with its tanh activation was log(2^(2 tanh v)
    (e^(-softplus(2v) + log 2))^(e^(-softplus(2v) + log 4))/4) + ..., right in value and with slope -inf at v = 50,
    so the judge sent the closed f* numeric and the density ratio stopped at 747 where it is 2000 (v = 1000). Such a
    form is now tried after the others; the tanh halves are exact, and the module is closed."""
    from fdiv.codegen.lower import compose
    from fdiv.derivation.activation import V

    f = "4*exp(-u) - 4*exp(-1) + 4*exp(-1)*(u - 1)"
    d = fdiv.derive(f)
    s = softplus = sp.Function("softplus")
    log_power = sp.log(2 ** (2 * sp.tanh(V)) * sp.exp(-s(2 * V) + sp.log(2)) ** sp.exp(-s(2 * V) + sp.log(4)) / 4) \
        + 2 * sp.tanh(V) - 2 + 8 * sp.exp(-1)
    halves = compose.compose(d, d.conjugate)
    assert isinstance(halves, sp.Piecewise) and halves.has(softplus)
    assert compose._most_accurate(d, d.conjugate, [log_power, halves]) == halves
    module, src = _module(f, tmp_path, "exp_affine")
    assert "_piece" not in src
    v = torch.tensor([1000.0, 1e4], dtype=torch.float64)
    assert module.density_ratio(v).tolist() == [2000.0, 20000.0]
    _accurate(module, f, roles=("conjugate_of_activation", "density_ratio", "critic_loss"))


def test_a_composition_no_printer_lowers_is_never_chosen(tmp_path):
    """|u - 1| + sqrt(1 + u^2) (seed 9973): every rewritten composition of one branch of f* with tanh's sigma_f held
    9 I/sqrt(...) (sqrt(-x) taken as I sqrt(x)); numpy scored the first by its real part and gen refused the
    module. Such a form is never chosen now, and f*(sigma_f(v)) as it is stands last among the candidates."""
    from fdiv.codegen.lower import compose
    from fdiv.codegen.lower.compose import lower
    from fdiv.derivation.activation import V

    f = "Abs(u - 1) + sqrt(1 + u**2)"
    d = fdiv.derive(f)
    branch = d.conjugate.args[1][0]
    planted = sp.I * sp.sqrt(V**2 + 1)
    assert not compose._printable(planted)
    assert compose._most_accurate(d, branch, [planted, sp.S.One]) == sp.S.One  # the first is not kept for being first
    low = lower(d)
    assert not low.conjugate_of_activation.has(sp.I) and compose._printable(low.conjugate_of_activation)
    module, _ = _module(f, tmp_path, "abs_hypot")
    _accurate(module, f, roles=("conjugate_of_activation", "critic_loss"))
    # its last closed branch is sent numeric (the judge's verdict on its density ratio at v = 1000): the closed end
    # t = f'(oo) = 2 of dom f* keeps f*(2) = lim (2u - f(u)) = 1, where the solve has no root (it was +inf)
    for dtype in (torch.float32, torch.float64):
        assert module.conjugate(torch.tensor([2.0], dtype=dtype)).tolist() == [1.0]


def test_logs_of_numbers_are_floats_in_the_numpy_model():
    """A candidate form of f' held log(10^54) (-u^(1/3)/3 + a GAN-family term, seed 9973): lambdified, numpy's log of
    a Python int past int64 is a TypeError, and gen failed. The numpy model writes it as the printer does, one
    float."""
    from fdiv.codegen.lower.numpy_model import numpy_function

    e = sp.Rational(1, 45) * sp.log(sp.Integer(10) ** 54, evaluate=False) + U
    with pytest.raises(TypeError):
        sp.lambdify(U, e, "numpy")(np.float64(1.0))
    assert abs(numpy_function(e, U)(np.float64(1.0)) - (54 * math.log(10) / 45 + 1)) < 1e-14


def test_simplify_holds_logs_so_it_cannot_factor_their_powers():
    """b - f'(u) of (u - 1)^2/(4u + 2) + 3 GAN-family terms: sp.simplify combined its logs into log((u + 1)^147/
    u^147), asking the sign of that power by factoring it, past the 20 s step limit, and gen failed (seed 9973).
    With the logs held as symbols the rewrite takes well under a second and is the same function."""
    import time

    from fdiv.codegen.lower.numeric import _simplified

    e = sp.sympify("-(u - 1)*(u + 2)/(2*u + 1)**2 - 3*log(u) + 3*log(u + 1) - 3*log(4) + 10/49 + 3*log(3)",
                   locals={"u": U})
    start = time.process_time()
    out = _simplified(e)
    assert time.process_time() - start < 5.0  # CPU seconds; sp.simplify itself runs past 20
    assert all(abs(float((out - e).subs(U, x))) < 1e-12 for x in (0.5, 3.0, 1e3))


@pytest.mark.parametrize("f", ["1/3*(u - 1)**2/u + 3/2*(u - 1)**2/(u + 1/2)",
                               "4*(u - 1)**2/(u + 3) + 2/3*exp(-(u - 1)/2)"])
def test_rational_fs_get_a_table_judged_at_the_ends_of_its_range(f, tmp_path):
    """Seed 9973's (u - 1)^2/(u + c) family went to the 64-step fallback (35-116x Jeffrey's time): the table builder
    multiplied f''(u) by du = u where the module divides by f''(u) u as one expression (f'' = 2/(3u^3) overflows
    below u = 1e-103, and the step was not taken), and f''(u) u = u (e^(-u/2)/6 + 128/(u + 3)^3) was one product,
    whose (u + 3)^3 overflows at u = 6e102 (expanded, it pairs as 128 (u/(u + 3))/(u + 3)^2). With a table, the
    interval that holds an end of the form's range had a knot at the bisection's floor, -745, so the points next to
    that end went unjudged and the module was 8e-5 off at v = 0 in float64: such a knot is now the root at the end.
    The modules have tables and pass fdiv.testing."""
    module, src = _module(f, tmp_path, "rational_table")
    assert "_bracketed_newton" not in src
    _accurate(module, f, roles=("conjugate_of_activation", "density_ratio", "critic_loss"))


def test_a_knot_past_the_end_of_the_range_is_the_root_at_that_end():
    """The knots are symmetric in the table index, the range of tau need not be: a knot whose tau lies below an
    inner end of the range (a form's hand-over, short of the float range) is the root at that end (here y = tau,
    so -2), a bracket that holds the end, not -745."""
    from fdiv.codegen.lower import table

    built = table.build(lambda y: y, lambda y: (np.exp(y), np.exp(y)), lambda y, tau: y - tau, "identity",
                        (-2.0, 709.0), (-745.0, 709.0))
    assert min(built.knots) == -2.0 and max(built.knots) <= 709.0


def test_a_false_cusp_where_f_second_derivative_only_decays_is_not_a_cusp():
    """_cusp_point finds a zero of f'' as a dip of |f''| on both sides. Seed 27182 index 170's f'' only decays
    towards u = oo (5e-28 at e^30, the grid's end), and a "cusp" was found at u = 8.6e12: the cube-root index
    around it left no table converging (the 64-step fallback, 76x Jeffrey's time). The cusp of (sqrt(u) - 1)^4
    at u = 1 is still found."""
    from fdiv.codegen.lower import numeric

    class Piece:  # the piece's ends only
        lo, hi = sp.S.Zero, sp.oo

    f = parse("4*((u - 1)**2/(u + 2)) + 1/4*(3/4*u*log(u) - (3/4*u + 1/4)*log(3/4*u + 1/4))", {"u": U})
    df = sp.diff(f, U)
    decaying = (numeric._numpy(df), numeric._numpy(sp.diff(numeric._plain(df), U)))
    assert numeric._cusp_point(*decaying, Piece()) is None
    quartic = sp.diff((sp.sqrt(U) - 1) ** 4, U)  # f'' = 0 at u = 1
    cusp = (numeric._numpy(quartic), numeric._numpy(sp.diff(quartic, U)))
    assert numeric._cusp_point(*cusp, Piece()) == pytest.approx(1.0, rel=1e-6)


def test_a_closed_form_failing_on_the_end_of_the_critic_range_is_its_own_branch_not_the_boundary(tmp_path):
    """Seed 27182 index 45: sigma_f = tanh-based, and tanh(-1e4) rounds onto the lower end of the critic range,
    where a constant boundary branch of f* begins. The composed module computes f* there by the closed branch just
    inside (its sqrt of a vanishing argument: a NaN slope, where the exact one is 0), but the judge attributed the
    NaN to the boundary branch, and `fdiv gen` refused the f as a lowering bug. The failure is now the inside
    branch's, which is lowered numerically instead: the module is written, and is right at v = -1e4."""
    from fdiv.codegen.emit import _render
    from fdiv.codegen.lower.compose import lower
    from fdiv.codegen.lower.judge import judge

    f = "2/3*(sqrt(1 + u**2)) + 3/2*(Abs(u - 1/2)) - (3/4 + 2*sqrt(2)/3) - (sqrt(2)/3 + 3/2)*(u - 1)"
    d = fdiv.derive(f)
    assert d.branches[0].kind == "boundary" and not d.branches[1].numeric
    failures = judge(d, _render(d, lower(d)))
    assert all(d.branches[x.branch].kind != "boundary" for x in failures)
    # the NaN slope at the end is still caught, as the inside branch's
    assert any(x.branch == 1 and x.x == -1e4 and x.what == "gradient" and x.got != x.got for x in failures)
    notes: list[str] = []
    module = _module(f, tmp_path, "end_of_range", notes)[0]
    assert any("numerically" in n for n in notes)
    for dtype in (torch.float32, torch.float64):
        v = torch.tensor([-1e4, -1000.0, -30.0], dtype=dtype, requires_grad=True)
        y = module.conjugate_of_activation(v)
        y.sum().backward()
        assert torch.isfinite(y).all() and torch.isfinite(v.grad).all()
        # f*(sigma_f(-1e4)) = f*(f'(0+)) = -f(0), the boundary branch's value
        assert y[0].item() == pytest.approx(float(-d.f.subs(U, 0)), rel=1e-6)


def test_the_closed_end_of_dom_f_star_where_u_star_is_infinite_is_judged_by_its_value(tmp_path):
    """4 u^(-1/2) + u^(-3/2)/4: f'(oo) = 0 closes dom f* = (-oo, 0] with f*(0) = 0 and u* = oo there, so f*'s
    one-sided slope at t = 0 is infinite. The module's 0 from the end point's constant was judged a lowering bug
    and gen refused the f (seed 16180, index 22). That slope is past every dtype and is not judged; the end point's
    value is, and a planted wrong value there is still caught."""
    from fdiv.codegen.lower.judge import judge

    f = "4*u**(-1/2) + 1/4*u**(-3/2)"
    module, src = _module(f, tmp_path, "end_point")
    d = fdiv.derive(f)
    assert d.branches[-1].kind == "end" and judge(d, src) == []
    for dtype in (torch.float32, torch.float64):
        t = torch.tensor([0.0, 1.0], dtype=dtype)
        assert module.conjugate(t).tolist() == [0.0, math.inf]
    off = src.replace("def conjugate(t):", "def _correct_conjugate(t):") + (
        "\n\ndef conjugate(t):\n    y = _correct_conjugate(t)\n    return torch.where(t == 0, y + 1e-3, y)\n")
    assert any(d.branches[x.branch].kind == "end" and x.what == "value" and x.x == 0.0 for x in judge(d, off))
    _accurate(module, f, roles=("conjugate", "conjugate_of_activation"))


def test_tanh_has_an_accurate_slope_in_float32(tmp_path):
    """A bounded critic range's sigma_f is a + b tanh(v). Autograd's slope of torch.tanh, 1 - tanh(v)^2, cancels
    in float32: 3e-4 relative at v = 5, which failed 81/2 tanh(v) - 75/2's activation (seed 16180, index 166) and
    sent closed forms composed with tanh numeric (the judge read the slope's error as theirs). The runtime's _tanh
    takes 1/cosh(v)^2: within 4 ulps of sech(v)^2 everywhere, and torch.tanh's own slope (the planted old form) is
    not."""
    from fdiv.codegen.lower.runtime import _tanh

    xs = [0.0, 1e-6, 0.5, 1.0, 5.0, 10.0, 20.0, 40.0, -5.0, -30.0, 100.0]
    exact = [float(mpmath.sech(x) ** 2) for x in xs]
    eps = float(np.finfo(np.float32).eps)
    for fn, good in ((_tanh, True), (torch.tanh, False)):
        v = torch.tensor(xs, dtype=torch.float32, requires_grad=True)
        fn(v).sum().backward()
        errors = [abs(g - e) / e if e > 1e-38 else abs(g) for g, e in zip(v.grad.tolist(), exact)]
        assert (max(errors) <= 4 * eps) is good, errors
    v = torch.tensor([0.3, -2.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_tanh, (v,)) and torch.autograd.gradgradcheck(_tanh, (v,))
    f = "3*(Max(3 - u, 0)**3) + 2 + 3*u"
    module, src = _module(f, tmp_path, "tanh_slope")
    assert "_tanh(v)" in src and "torch.tanh(v)" not in src
    _accurate(module, f, roles=("activation",))


# f's with a zero of f* inside a numeric piece: seed 14142 index 49 and seed 16180 index 191 (normalised at their
# minimum u = 1, so f*(0) = 0), and index 49 with f'(1) = -1/4 (a zero at t0 = -0.0275, no float)
ZERO_FS = [
    "1/2*(Max(u - 3, 0)**3) + 3*(u**(5/4)) + 5/2*((sqrt(u) - 1)**4) - (3) - (15/4)*(u - 1)",
    "2*(u*log(u)) + 4*((u + 3)*log(u + 3)) - (16*log(4)) - (4*log(4) + 6)*(u - 1)",
    "1/2*(Max(u - 3, 0)**3) + 3*(u**(5/4)) + 5/2*((sqrt(u) - 1)**4) - (3) - 4*(u - 1)",
]


def _zero_errors(module, f: str) -> list[tuple[float, float]]:
    """(t, relative error of f*(t) in float64) at t0 and next to it, against the campaign's reference supremum
    (an exact 0 must come out as 0); t0 is read from the module (the zero's series), or 0."""
    import re

    from numerics.conjugate import SupremumSearch

    found = re.search(r"zero t0 = (\S+) ", module.__source__) if hasattr(module, "__source__") else None
    t0 = float(found.group(1)) if found else 0.0
    search = SupremumSearch(parse(f, {"u": U}), U)
    out = []
    for e in (0.0, 1e-15, -1e-15, 1e-12, -1e-12, 1e-8, -1e-8, 1e-4, -1e-4, 1e-2, -1e-2, 0.1, -0.1):
        t = torch.tensor([t0 + e], dtype=torch.float64)
        got = module.conjugate(t).item()
        with mpmath.workdps(50):
            exact = search.at(mpmath.mpf(t.item())).value
        out.append((t.item(), float(abs(got - exact) / abs(exact)) if exact != 0 else (0.0 if got == 0 else math.inf)))
    return out


@pytest.mark.parametrize("f", ZERO_FS)
def test_f_star_at_its_zero_is_exact_and_accurate_next_to_it(f, tmp_path, monkeypatch):
    """t u* - f(u*) cancels where f* = 0: the numeric value kept an absolute error of a few ulps of its terms, so
    f*(0) = -4.9e-15 (exact 0) for seed 14142 index 49, and f*(1e-12) was 3e-3 off. Within r of the zero t0 the
    value is now f*'s Taylor series in t - t0 (lower.zero): f*(t0) is 0 exactly, and the relative error is below
    1e-12 at t0 + e for e from 1e-15 to 0.1 (the series inside r, the numeric value outside; 1e-12: the numeric
    value's absolute error, a few ulps of 1, over r ~ 0.02). Without the series (piece_zero returning None, the
    planted old code) the same check fails."""
    from fdiv.codegen.lower import numeric

    module, src = _module(f, tmp_path, "zero")
    module.__source__ = src
    assert "_near(" in src
    errors = _zero_errors(module, f)
    assert max(e for _, e in errors) <= 1e-12, errors
    if "t0 = 0.0 " in src:  # at v = 0 (identity activation) too, in both dtypes
        for dtype in (torch.float32, torch.float64):
            v = torch.zeros(3, dtype=dtype, requires_grad=True)
            y = module.conjugate_of_activation(v)
            y.sum().backward()
            # the slope is u* = 1 as solved (the series replaces the value only): to a few ulps in float32, and
            # in float64 to the solve's 1e-14 (2.4e-15 for index 49), within the campaign's 1e-10
            tol = 4 * torch.finfo(torch.float32).eps if dtype == torch.float32 else 1e-13
            assert y.tolist() == [0.0] * 3 and all(abs(g - 1) <= tol for g in v.grad.tolist())
    numeric.piece_zero.cache_clear()
    monkeypatch.setattr(numeric, "piece_zero", lambda piece: None)
    (tmp_path / "planted").mkdir()
    planted, src = _module(f, tmp_path / "planted", "zero")
    assert "_near(" not in src
    planted.__source__ = module.__source__  # the same t0
    assert max(e for _, e in _zero_errors(planted, f)) > 1e-6


def test_the_inverse_series_of_f_prime_and_when_there_is_no_zero_series():
    """_inverse_series reverts f'(u0 + w) - t0 = sum c_k w^k: for e^w - 1 it is log(1 + e) = e - e^2/2 + e^3/3 -
    ... . zero_series gives nothing where f* has no zero on the piece (u log u: u f' - f = u > 0), or where
    f''(u0) = 0 ((sqrt(u) - 1)^4 at u0 = 1, whose inverse has a cube-root cusp there)."""
    from fdiv.codegen.lower.zero import _inverse_series, zero_series

    with mpmath.workdps(40):
        b = _inverse_series([1 / mpmath.factorial(k) for k in range(1, 9)])
        assert all(abs(b[k - 1] - (-1) ** (k + 1) / mpmath.mpf(k)) < 1e-35 for k in range(1, 9))
    slope = lambda f, at: sp.limit(sp.diff(f, U), U, at, "+" if at == 0 else "-")  # noqa: E731
    for f in (U * sp.log(U), (sp.sqrt(U) - 1) ** 4):
        assert zero_series(f, sp.S.Zero, sp.oo, slope(f, 0), sp.limit(sp.diff(f, U), U, sp.oo)) is None
    f = U * sp.log(U) + 1  # u f' - f = u - 1: the zero at u0 = 1, t0 = f'(1) = 1
    zs = zero_series(f, sp.S.Zero, sp.oo, -sp.oo, sp.oo)
    assert zs.u0 == 1 and zs.t0 == 1 and zs.coefficients[:2] == (1.0, 0.5)  # f* = e^(t - 1): 1 + e + e^2/2


def test_a_kink_between_numeric_pieces_is_evaluated_at_every_precision(recwarn):
    """The threshold f'(3) of a kink evaluates a few ulps off the t given for it (sympy's correctly rounded value
    against mpmath's sum of rounded terms), so t landed just outside the numeric piece on (3, oo): its root lies
    within rounding of u = 3, where the solver's bracket doubled onto u = 3 exactly and gave up. f* at the kink was
    "not real" at 30 and 50 digits, and the cache entry of every such f failed its check and was derived again
    (a CacheWarning on each use). The root next to the end is now bisected (u rounded onto the end still orders the
    bracket), and a t within 2^-(prec - 60) outside the piece takes the root at its end."""
    from fdiv.derivation.inverse import _solve
    from fdiv.derivation.numeric import to_mpf

    f = ZERO_FS[0]
    piece = parse("3*u**(5/4) - 15*u/4 + 5*(sqrt(u) - 1)**4/2 + (u - 3)**3/2 + 3/4", {"u": U})
    df = sp.lambdify(U, sp.diff(piece, U), "mpmath")
    d2f = sp.lambdify(U, sp.diff(piece, U, 2), "mpmath")
    with mpmath.workdps(40):
        t = to_mpf(sp.diff(piece, U).subs(U, 3), 40) + mpmath.mpf(10) ** -28
        root = _solve(df, 3, sp.oo, t, d2f)  # u - 3 = 6.4e-29
        assert root is not None and root > 3 and abs(df(root) - t) < mpmath.mpf(10) ** -38
    d = fdiv.derive(f)
    conj = mp_function(d.conjugate, T)
    for dps in (30, 40, 50, 100):
        assert real_value(conj, to_mpf(d.branches[1].upper, dps), dps=dps) is not None
    fdiv.derive(f)  # from the cache: its entry passes the check
    assert not [w for w in recwarn if "failed its check" in str(w.message)]


def test_a_distance_to_a_kink_with_a_rational_term_is_accurate_at_both_ends(tmp_path):
    """Seed 14142 index 134: on u > 1/2, f'(u) - f'(1/2+) in d = u - 1/2 was written with every power of a linear
    term as expm1 of log1p, the rational term's (d + 5/2)^-1 and ^-2 included. Their d^2 parts cancel at large d:
    u* at t = 1e4 was 57 % off, and f* 25 % off in both dtypes. The roots alone as expm1's, the rational terms over
    one denominator and paired, is accurate towards d = 0 and d = oo (scored as the solver's residual is), where
    the old form is not; and the module is right up to v = 1e4."""
    from fdiv.codegen.lower import numeric

    f = "1/3*((u - 1)**2/(u + 2)) + 4*(Abs(u - 1/2)) + u**(4/3) - (3) - (16/3)*(u - 1)"
    d = numeric._D
    smooth = parse("1/3*((u - 1)**2/(u + 2)) + 4*(u - 1/2) + u**(4/3) - (3) - (16/3)*(u - 1)", {"u": U})
    raw = sp.diff(smooth, U)
    gap = sp.expand(raw.xreplace({U: sp.Rational(1, 2) + d}) - sp.limit(raw, U, sp.Rational(1, 2), "+"))
    reference = numeric._reference(gap, d)
    new = numeric._paired_ratios(numeric._rational_part_cancelled(numeric._vanishing_powers(gap, d, True), d), d)
    old = numeric._vanishing_powers(gap, d)
    for form, good in ((new, True), (old, False)):
        bad = [numeric._error(form, numeric._NEAR[r], reach=True, var=d, reference=reference) for r in ("lo", "hi")]
        assert (bad == [0, 0]) is good, (form, bad)
    module = _module(f, tmp_path, "kink_rational")[0]
    _accurate(module, f, roles=("conjugate_of_activation",))


def test_rational_terms_with_the_same_poles_are_combined_before_they_are_paired(tmp_path):
    """Seed 14142 index 114: f'' = 3/(2u^(3/2)) + 1/(3u) - 1/(3(u + 1)) + 32/(u + 3)^3 (as chosen): 1/(3u) - 1/(3u
    + 3) cancels to eps u^-1 against a true u^-3/2 + u^-2, and the density ratio's slope was 1.8e-4 off at v = 30
    in float64. Grouped by pole (the (u + 3) terms are 32/(u + 3)^3) and then paired, it is 1/(3u (u + 1)): exact
    over float64's range of u, where the old form is not; the density ratio passes."""
    from fdiv.codegen.lower import numeric

    f = "1/3*(u*log(u) - (u + 1)*log(u + 1)) + 3/2*((sqrt(u) - 2)**2) + (u - 1)**2/(u + 3) + 3 + 1/2*u"
    d2 = numeric._plain(sp.diff(numeric._plain(sp.diff(parse(f, {"u": U}), U)), U))
    grouped = numeric._grouped_by_pole(d2, U)
    assert sp.simplify(grouped - d2) == 0 and len(sp.Add.make_args(grouped)) < len(sp.Add.make_args(sp.expand(d2)))
    reference = numeric._reference(d2)
    new = numeric._cancelling_pairs(grouped, U)
    old = parse("3/(2*u**(3/2)) + 1/(3*u) - 1/(3*(u + 1)) + 32/(u + 3)**3", {"u": U})
    for form, good in ((new, True), (old, False)):
        assert (numeric._error(form, numeric._EVERYWHERE, reference=reference) == 0) is good, form
    module = _module(f, tmp_path, "poles")[0]
    _accurate(module, f, roles=("density_ratio",))


def test_a_root_of_a_constant_is_no_sign_of_cardano(monkeypatch, tmp_path):
    """Seed 14142 index 18, 2 Max(u - 2, 0) + 4 u^(-3/2), was refused: on u < 2, -6 u^(-5/2) = t is inverted at
    once as (s/6 + sqrt(2)/8)^(-2/5), but the fifth root of a sum holding sqrt(2) was taken for Cardano's nested
    roots, and solve ran past its 20 s. A nested root counts only where its base varies; Cardano's is still
    caught, and the f derives closed in seconds."""
    import time

    s, p, q = sp.symbols("s p q", positive=True)
    assert not conj._nested_odd_root((s / 6 + sp.sqrt(2) / 8) ** sp.Rational(-2, 5))
    assert conj._nested_odd_root((q + sp.sqrt(q**2 + p**3)) ** sp.Rational(1, 3))
    monkeypatch.setenv("FDIV_NO_CACHE", "1")
    start = time.process_time()
    f = "2*(Max(u - 2, 0)) + 4*(u**(-3/2))"
    d = fdiv.derive(f)
    assert time.process_time() - start < 10 and d.ok and not d.numeric
    monkeypatch.delenv("FDIV_NO_CACHE")
    _accurate(_module(f, tmp_path, "one_power")[0], f, roles=("conjugate", "conjugate_of_activation"))


def test_isolating_a_log_into_a_quartic_is_left_to_the_numeric_branch(monkeypatch):
    """Seed 27182 index 46: two GAN-family terms weighted 1/4 and 1/12. Isolating the log gives u^4 = z (u +
    1)^3 (u + 2), whose roots are Ferrari's (over the budget anyway), and solve ran past its 20 s: the f was
    refused. An equation of degree 3 or more with three terms or more is now not solved (a rule on its shape);
    the JS-weighted f's first-degree equation still is."""
    import time

    z = sp.Symbol("z", positive=True)
    assert conj._cubic_or_more(U**4 - z * (U + 1) ** 3 * (U + 2))
    assert not conj._cubic_or_more(U - z * (sp.Rational(3, 10) * U + sp.Rational(7, 10)))
    monkeypatch.setenv("FDIV_NO_CACHE", "1")
    start = time.process_time()
    d = fdiv.derive("1/4*(u*log(u) - (u + 1)*log(u + 1)) + 1/4*(1/3*u*log(u) - (1/3*u + 2/3)*log(1/3*u + 2/3))"
                    " - (-log(sqrt(2))) - (-log(2)/4)*(u - 1)")
    assert time.process_time() - start < 10 and d.ok and d.numeric
    assert not fdiv.derive("3/10*u*log(u) - (7/10 + 3/10*u)*log(7/10 + 3/10*u)").numeric


def test_a_closed_f_star_over_the_operation_budget_is_never_chosen_for_its_looks(monkeypatch):
    """Seed 27182 index 185, 3/2 (sqrt(u) - 1/2)^2 - 4 log u, ran out of CPU time: the last simplification of f*
    picked a form without a log of a power first, at any length, and the log of a 32nd power expanded into a
    rational of degree 64 (33 000 operations, 70 ms per evaluation at 30 digits) won; the biconjugate self-check
    then took minutes. A form over the budget is chosen only where every form is, and an f* still over it once
    written in t (past 4x the substituted budget) is numeric."""
    import time

    monkeypatch.setenv("FDIV_NO_CACHE", "1")
    start = time.process_time()
    d = fdiv.derive("3/2*((sqrt(u) - 1/2)**2) + 4*(-log(u))")
    assert time.process_time() - start < 20 and d.ok
    assert sp.count_ops(d.conjugate) <= 4 * conj.MAX_CONJUGATE_OPS


def test_a_lo_form_whose_terms_overflow_float32_is_solved_in_float64(tmp_path):
    """u log u beside a kink (lo form on u > 2): f*(t) was formed in float32 as (u f' - f) + (c u - u (f' - a)),
    whose last two terms are ~87 u at u = 1e38, where f* ~ u is a float32: f*(88) came out +inf in float32 (the
    exact value is 6e37). Those terms are now part of the float32 check, and the piece is solved in float64 for
    float32 inputs: finite, within 1e-4 (float32's Newton step count at the top of its range leaves u* ~1e-5
    off; the grid's tolerance is met below v = 88)."""
    from numerics.conjugate import SupremumSearch

    f = "u**(-1/3) + 4*(Max(2 - u, 0)) - 1/2 + u*log(u)"
    module = _module(f, tmp_path, "lo_overflow")[0]
    search = SupremumSearch(parse(f, {"u": U}), U)
    for t in (60.0, 80.0, 88.0):
        got = module.conjugate(torch.tensor([t], dtype=torch.float32)).item()
        with mpmath.workdps(40):
            exact = search.at(mpmath.mpf(t)).value
        assert math.isfinite(got) and abs(got - exact) <= 1e-4 * exact, (t, got, float(exact))


# ------------------------------------------------------------------------ polynomial forms next to an end
POWER_KINK = "1/2*(Abs(u - 1)) + 5/2*(u**(4/3)) - (5/2) - (10/3)*(u - 1)"  # seed 17320, index 159


def test_a_root_of_a_factored_cube_is_its_factor_where_the_factor_keeps_one_sign():
    """((6t + 23)^3)^(1/3), the cube expanded, is 6t + 23 on (-23/6, -1/2), where 6t + 23 > 0; on an interval
    holding the root -23/6 (its sign changes there), where the base is negative, or for a base with no repeated
    factor the root stays."""
    cube = sp.expand((6 * T + 23) ** 3) ** sp.Rational(1, 3)
    assert conj._radicands_of_one_sign(cube, T, sp.Rational(-23, 6), sp.Rational(-1, 2)) == 6 * T + 23
    assert conj._radicands_of_one_sign(cube, T, sp.Integer(-5), sp.Integer(0)) == cube
    # negative there: the principal root of a negative base is not real, and the rule leaves it
    assert conj._radicands_of_one_sign(cube, T, -sp.oo, sp.Integer(-4)) == cube
    square_free = sp.sqrt(T ** 2 + 1)
    assert conj._radicands_of_one_sign(square_free, T, sp.Integer(0), sp.oo) == square_free


def test_a_polynomial_f_star_is_written_about_the_point_that_depresses_it():
    """(6t + 23)^4/192000 - 4/3 expanded has a slope that cancels next to t = -23/6; about c = -23/6 it is two
    terms. A polynomial the shift does not shorten is left as it is."""
    expanded = sp.expand((6 * T + 23) ** 4 / 192000 - sp.Rational(4, 3))
    shifted = conj._depressed(expanded)
    assert sp.expand(shifted - expanded) == 0 and sp.count_ops(shifted) < sp.count_ops(expanded)
    assert shifted.has((T + sp.Rational(23, 6)) ** 4)
    dense = T ** 3 + 2 * T ** 2 + 5 * T + 1  # depressed: (t + 2/3)^3 + 11/3 (t + 2/3) - 43/27, no shorter
    assert conj._depressed(dense) == dense


def test_power_beside_a_kink_gets_a_short_f_star_with_an_accurate_slope(tmp_path):
    """Seed 17320, index 159: f* on (-23/6, -1/2) was a Cardano-like expansion in t with a cube root of an
    expanded cube; its slope at t = sigma_f(-5) (u* = 8.2e-9) was 1.9e-6 in float32, 3e-7 off in float64. Now
    f* = 27 (t + 23/6)^4/4000 - 4/3 and u* = (6t + 23)^3/8000, checked against the exact slope with fdiv.testing's
    conditioning of t (4 eps (|t| + 23/6) du*/dt, about 1e-3 of u* in float32 there)."""
    d = fdiv.derive(POWER_KINK)
    smooth = [b for b in d.branches if b.kind == "smooth"]
    assert sp.simplify(smooth[0].expr - (27 * (T + sp.Rational(23, 6)) ** 4 / 4000 - sp.Rational(4, 3))) == 0
    assert not any(p.exp.is_Rational and not p.exp.is_Integer for b in smooth for p in b.expr.atoms(sp.Pow))
    module, _ = _module(POWER_KINK, tmp_path, "power_kink")
    for dtype, eps in ((torch.float32, 2.0 ** -23), (torch.float64, 2.0 ** -52)):
        t = module.activation(torch.tensor([0.0, -1.0, -5.0], dtype=dtype)).requires_grad_()
        (slope,) = torch.autograd.grad(module.conjugate(t).sum(), t)
        for t_k, got in zip(t.detach().double().tolist(), slope.tolist()):
            with mpmath.workdps(40):
                x = 6 * mpmath.mpf(t_k) + 23
                exact, d_exact = x ** 3 / 8000, 18 * x ** 2 / 8000
            allowed = 4 * eps * (abs(t_k) + 23 / 6) * float(d_exact) + (1e-5 if dtype == torch.float32 else 1e-10) * float(exact)
            assert abs(got - float(exact)) <= allowed, (dtype, t_k, got, float(exact))


def test_the_judge_rejects_a_conjugate_slope_that_cancels_next_to_an_end():
    """The judge compares f*'s slope at t = sigma_f(v) as the module rounds it (it compared only the value
    there): the old Cardano-like branch of POWER_KINK, planted into the module, fails at v = 0, -1 and -5 in
    float32; the module fdiv writes passes."""
    from fdiv.codegen.emit import _render
    from fdiv.codegen.lower.compose import lower
    from fdiv.codegen.lower.judge import judge

    d = fdiv.derive(POWER_KINK)
    src = _render(d, lower(d))
    assert judge(d, src) == []
    head = "    def branch_1(t_1, mask=None):\n"
    start = src.index(head, src.index("def conjugate(t):")) + len(head)
    end = src.index("    def branch_2(", start)
    planted = src[:start] + (
        "        c0 = t_1 ** 3\n        c1 = t_1 ** 2\n"
        "        c2 = torch.clamp(t_1 * 9522.0 + c1 * 2484.0 + c0 * 216.0 + 12167.0, min=0.0) ** 0.3333333333333333\n"
        "        return (t_1 * 389344.0 + c1 * 152352.0 + c0 * 26496.0 + c1 ** 2 * 1728.0 - t_1 * c2 * 9522.0"
        " - c1 * c2 * 2484.0 - c0 * c2 * 216.0 - c2 * 12167.0 + 287788.0) * 1.5625e-05\n") + src[end:]
    failures = judge(d, planted)
    slopes = {round(x.x, 3) for x in failures if x.role == "conjugate" and x.what == "gradient" and x.dtype == "float32"}
    assert {-3.14, -3.52, -3.827} <= slopes, [x.text() for x in failures]


# ----------------------------------------------------------------- tables past 4 steps, distances to large slopes
FLAT_TURN = "1/4*u**(5/4) + 3*((u - 1)**2/(u + 1/2)) - (1/4) - (5/16)*(u - 1)"  # seed 17320, index 93
LARGE_KINK = ("3*(1/4*u*log(u) - (1/4*u + 3/4)*log(1/4*u + 3/4)) + Abs(u - 3) + 2*(exp(2*u)) - (2 + 2*exp(2))"
              " - (-1 + 4*exp(2))*(u - 1)")  # seed 27182, index 55: the kink at u = 3 has slopes near 1585


def test_a_table_with_more_steps_replaces_the_fallback_where_f_prime_turns_after_a_flat_stretch(tmp_path, monkeypatch):
    """f' - f'(0) goes from 25.5 to 29.8 while u goes from 1.4 to 6800, then turns: no knot spacing interpolates
    y(tau) there to better than ~0.3, and 4 Newton steps did not reach float64 (the 64-step fallback, 70x Jeffrey's
    time). A table with 5 (float64) and 4 (float32) steps does, and the module is accurate; without the extra
    steps (the planted old code) the fallback comes back."""
    from fdiv.codegen.lower import table

    module, source = _module(FLAT_TURN, tmp_path, "flat_turn")
    assert "_bracketed_newton(" not in source
    _accurate(module, FLAT_TURN, roles=("conjugate_of_activation", "density_ratio"))
    monkeypatch.setattr(table, "MORE_STEPS", table.STEPS)
    assert "_bracketed_newton(" in render_module(fdiv.derive(FLAT_TURN), [])


def test_a_distance_to_a_kink_at_a_large_slope_is_formed_in_float64(tmp_path, monkeypatch):
    """t's distance to the kink's slope s = 1584.68 rounds in float32 to 6e-5, and f*(1) = 1.00829 moved by that
    times u* (2.3e-5 off, over the 1e-5 bar); the module forms it in float64 (and solves that piece in float64:
    its value's terms, ~1600 u each, cancel to 1 in float32). Without the wide distance (planted) it fails."""
    from fdiv.codegen.lower import numeric

    d = fdiv.derive(LARGE_KINK)
    pieces = numeric.numeric_pieces(d.branches)
    assert [numeric.wide_distance(p, form) for p in pieces.values() for form in p.forms] == [True, False]
    module, source = _module(LARGE_KINK, tmp_path, "large_kink")
    assert "_wide_gap(" in source
    _accurate(module, LARGE_KINK, roles=("conjugate", "conjugate_of_activation", "density_ratio"))

    def f_star_at_1(mod) -> float:
        return float(mod.conjugate(torch.tensor([1.0], dtype=torch.float32))[0])

    exact = float(real_value(mp_function(d.conjugate, T), 1))
    assert abs(f_star_at_1(module) - exact) <= 1e-5 * abs(exact)
    monkeypatch.setattr(numeric, "wide_distance", lambda piece, form: False)
    (tmp_path / "planted").mkdir()
    planted, _ = _module(LARGE_KINK, tmp_path / "planted", "large_kink_planted")
    assert abs(f_star_at_1(planted) - exact) > 1e-5 * abs(exact)


def test_value_conditioning_flags_a_float32_value_whose_terms_cancel():
    """The piece of LARGE_KINK below the kink: its value (4 e^6 u - f(u)) - (4 e^6 - t) u has terms of ~1600 u for
    f* ~ 1 (float32 would be 3e-4 off), so it is solved in float64; the piece above it, and KL's, are not flagged."""
    from fdiv.codegen.lower import numeric

    def flags(f):
        d = fdiv.derive(f)
        out = []
        for p in numeric.numeric_pieces(d.branches).values():
            for form in p.forms:
                if form == "direct":
                    continue
                s = p.slope_lo if form == "lo" else p.slope_hi
                rest = s * U - p.f
                out.append(numeric._value_conditioned(rest, p, p.f, sp.diff(p.f, U), s, form))
        return out

    assert flags(LARGE_KINK) == [False, True]
    ordinary = flags("exp(u/2) + u*log(u) + Abs(u - 3)")
    assert ordinary and all(ordinary)


def test_the_judge_compares_f_star_next_to_an_end_of_dom_f_star_that_is_a_float(tmp_path):
    """4 (u log u - (u + 1) log(u + 1)) (seed 31415, index 130): f* = log((1 - e^(t/4))^-4), lowered as log of
    1/expm1(t/4)^4, which underflows: f*(sigma_f(30)) = f*(-9.4e-14) was +inf in float32 (exact 125.5). The judge
    skipped every t within 4 ulps of the end b = 0 of dom f*, a skip meant for an end the dtype rounds (the module
    compares t with b as rounded); b = 0 is a float, so the judge now compares there, and the branch is solved
    numerically in the module fdiv writes."""
    from fdiv.codegen.emit import _render
    from fdiv.codegen.lower.compose import lower
    from fdiv.codegen.lower.judge import judge

    f = "4*(u*log(u) - (u + 1)*log(u + 1))"
    d = fdiv.derive(f)
    failures = judge(d, _render(d, lower(d)))
    assert any(x.role == "conjugate" and x.what == "value" and x.dtype == "float32" and -1e-12 < x.x < 0
               for x in failures), [x.text() for x in failures]
    module, _ = _module(f, tmp_path, "gan_times_4")
    t = module.activation(torch.tensor([30.0, 100.0]))
    # 1 - e^(t/4) at t = -3.8e-44 needs more than 44 digits
    exact = [float(real_value(mp_function(d.conjugate, T), float(x), dps=80)) for x in t.double()]
    assert module.conjugate(t).tolist() == pytest.approx(exact, rel=1e-5)


def test_roots_of_two_bases_are_over_the_budget_by_rule():
    """f' = u/(3 sqrt(1 + u^2)) - 2/3 u^(-1/3) + c (seed 31415, index 169): eliminating both roots by resultants
    ran past the step's 20 s and the derivation was refused. Roots of two bases whose orders multiply to 6 or more
    are over the budget without computing them (numeric); two square roots (orders 2 x 2) are still eliminated
    and measured (15/4 sqrt(u - 2) - 1/(3 sqrt(u)): degree 4, numeric; sqrt(1 + u^2) alone: degree 2, closed)."""
    f = "1/3*(sqrt(1 + u**2)) - u**(2/3) - (-1 + sqrt(2)/3) - (-2/3 + sqrt(2)/6)*(u - 1)"
    assert conj._radicals_over_budget(sp.diff(parse(f, {"u": U}), U))
    assert conj._radicals_over_budget(sp.Rational(15, 4) * sp.sqrt(U - 2) - 1 / (3 * sp.sqrt(U)))
    assert not conj._radicals_over_budget(U / sp.sqrt(1 + U ** 2))
    d = fdiv.derive(f)
    assert d.ok and d.numeric


CANCELLING_SLOPE = "3*(u*log(u) - (u + 1)*log((u + 1)/2)) + 3/2*(-log(u)) + 1/2*(u*log(u)) + (u - 1)"  # 31415/174


def test_a_direct_value_whose_slope_terms_cancel_is_formed_in_float64(tmp_path, monkeypatch):
    """f' = 3.5 log u - 3 log((u + 1)/2) + ...: at u* = 9e22 (t = 30) its terms are 185 and 156 for f' = 30, and
    u* (t - f'(u*)) in the value (u f' - f) + u (t - f'(u)) is u* times their float32 rounding: f*(30) was 2.4e-5
    off in float32 (seed 31415, index 174). The check flags it, the piece is solved in float64 for float32 inputs,
    and the module is within 1e-5; with the check planted out the float32 value fails again. The piece of
    exp(u/2) + u log u is not flagged: its float32 value is within the bar everywhere."""
    from fdiv.codegen.lower import numeric

    def flags(f):
        d = fdiv.derive(f)
        out = []
        for p in numeric.numeric_pieces(d.branches).values():
            assert p.forms == ("direct",)
            value = numeric._X * U - p.f  # x u - f(u) as the plain value, and the form the module uses
            df = sp.diff(p.f, U)
            rest = U * df - p.f + U * (numeric._X - df)
            out.append([numeric._direct_value_conditioned(e, p, df, "exp") for e in (value, rest)])
        return out

    assert flags(CANCELLING_SLOPE) == [[False, False]]
    assert flags("exp(u/2) + u*log(u)") == [[True, True]]
    d = fdiv.derive(CANCELLING_SLOPE)
    exact = float(real_value(mp_function(d.conjugate, T), 30, dps=40))

    def f_star_at_30(mod) -> float:
        return float(mod.conjugate(torch.tensor([30.0], dtype=torch.float32))[0])

    module, _ = _module(CANCELLING_SLOPE, tmp_path, "cancelling_slope")
    assert abs(f_star_at_30(module) - exact) <= 1e-5 * abs(exact)
    _accurate(module, CANCELLING_SLOPE, roles=("conjugate_of_activation", "density_ratio"))
    monkeypatch.setattr(numeric, "_direct_value_conditioned", lambda *args: True)
    (tmp_path / "planted").mkdir()
    planted, _ = _module(CANCELLING_SLOPE, tmp_path / "planted", "cancelling_slope_planted")
    assert abs(f_star_at_30(planted) - exact) > 1e-5 * abs(exact)


CUSP_BESIDE_A_KINK = "5/2*((sqrt(u) - 1)**4) + 2*(Max(u - 3, 0))"  # seed 31415, index 129


def test_a_cusp_inside_a_piece_that_ends_at_a_kink_is_solved_in_t_itself(tmp_path, monkeypatch):
    """f' = 5 (sqrt(u) - 1)^3/sqrt(u) on (0, 3) has f''(1) = 0 at t0 = 0, and the piece ends at the kink slope b =
    1.13. Its one anchored form solved -log(b - f'(u)) = -log(b - t): next to u = 1, f' ~ 5 (u - 1)^3/8 is far
    below b's rounding, so the root was resolved to (eps b)^(1/3): f*'s slope at v = 0 was 0.9960 in float32 and
    the ratio 0.999992 in float64 (exact 1 both), and no table converged (the 64-step fallback, 56x Jeffrey's time). The piece now has a
    direct form around the cusp, split from the anchored one halfway to b; with the cusp planted out, both fail
    again."""
    from fdiv.codegen.lower import numeric

    d = fdiv.derive(CUSP_BESIDE_A_KINK)
    (piece, *_) = numeric.numeric_pieces(d.branches).values()
    assert piece.forms == ("direct", "hi") and abs(piece.cusp) < 1e-12
    assert float(piece.cuts[0]) == pytest.approx(float(piece.slope_hi) / 2, rel=1e-12)
    module, source = _module(CUSP_BESIDE_A_KINK, tmp_path, "cusp_beside_a_kink")
    assert "_bracketed_newton(" not in source
    _accurate(module, CUSP_BESIDE_A_KINK)
    # f*'s slope and the ratio at t0 = 0 are u* = 1 exactly; the bar is the campaign's (1e-5 float32, 1e-10 float64)
    for dtype, bar in ((torch.float32, 1e-5), (torch.float64, 1e-10)):
        v = torch.zeros(1, dtype=dtype, requires_grad=True)
        module.conjugate_of_activation(v).sum().backward()
        assert abs(float(v.grad[0]) - 1.0) <= bar
        assert abs(float(module.density_ratio(torch.zeros(1, dtype=dtype))[0]) - 1.0) <= bar
    monkeypatch.setattr(numeric, "_inner_cusp", lambda piece: None)
    (tmp_path / "planted").mkdir()
    planted, source = _module(CUSP_BESIDE_A_KINK, tmp_path / "planted", "cusp_planted")
    v = torch.zeros(1, requires_grad=True)
    planted.conjugate_of_activation(v).sum().backward()
    assert abs(float(v.grad[0]) - 1.0) > 1e-3
    assert abs(float(planted.density_ratio(torch.zeros(1, dtype=torch.float64))[0]) - 1.0) > 1e-6


def test_the_knot_at_a_cusp_is_its_root_to_the_last_bit(tmp_path, monkeypatch):
    """5/2 (sqrt(u) - 3)^4 + 2 u: f' - 2 ~ 5/54 (u - 9)^3 next to u0 = 9, so the bisection that placed the table's
    knot at the cusp stopped 5e-6 off in y (f' is flat to its rounding there), the Newton steps from that knot
    converge only linearly, and no table converged: the 64-step fallback. u0 is now the simple root of f''' at 30
    digits, the knot is exact, and a table converges; the ratio at t0 = 2 is u0 = 9 to the bar. With the refined
    root planted out, the fallback comes back."""
    from fdiv.codegen.lower import numeric

    f = "5/2*((sqrt(u) - 3)**4) + 2*u"
    d = fdiv.derive(f)
    (piece,) = numeric.numeric_pieces(d.branches).values()
    u0, t0 = numeric.cusp_root(piece.f, piece.lo, piece.hi)
    assert u0 == 9.0 and t0 == 2.0
    module, source = _module(f, tmp_path, "cusp_at_nine")
    assert "_bracketed_newton(" not in source
    _accurate(module, f, roles=("conjugate_of_activation", "density_ratio"))
    for dtype, bar in ((torch.float32, 1e-5), (torch.float64, 1e-10)):
        ratio = float(module.density_ratio(torch.tensor([2.0], dtype=dtype))[0])
        assert abs(ratio - 9.0) <= bar * 9.0
    monkeypatch.setattr(numeric, "cusp_root", lambda f, lo, hi: None)
    assert "_bracketed_newton(" in render_module(d, [])


def test_f_star_at_a_subnormal_t_keeps_its_slope(tmp_path, monkeypatch):
    """3 Max(u - 1/2, 0)^3 (seed 24601, index 148), numeric on t > 0 with the piece anchored at the critic range's
    end 0: conjugate(t) took torch.log(t) and the piece's slope in log t, t u* formed in float32, came back through
    log's backward divided by t. At t = 3.8e-44 (a float32 subnormal, sigma_f(-100)) t u* is a subnormal with four
    bits: f*'s slope was 0.5185 for u* = 0.5. The piece now takes the distance t itself (its _gap function divides
    in float64), and a subnormal distance is kept, not clamped to the smallest normal (which made f* 6e-39 for
    1.9e-44). With log t planted back, the slope fails again."""
    from fdiv.codegen.lower import compose

    f = "3*(Max(u - 1/2, 0)**3)"
    t_sub = float(torch.tensor(3.78350585e-44))  # sigma_f(-100) in float32: 27 subnormal spacings

    def at_subnormal(mod) -> tuple[float, float]:
        t = torch.tensor([t_sub], requires_grad=True)
        value = mod.conjugate(t)
        value.backward()
        return float(value[0]), float(t.grad[0])

    module, source = _module(f, tmp_path, "subnormal_t")
    value, slope = at_subnormal(module)
    exact_slope = 0.5 + math.sqrt(t_sub) / 3  # u* = 1/2 + sqrt(t)/3
    assert abs(slope - exact_slope) <= 1e-5 * exact_slope
    assert abs(value - t_sub * 0.5) <= 2.0 ** -149  # f* = t/2 + 2/27 t^(3/2), within one subnormal spacing
    monkeypatch.setattr(compose, "log_gap", sp.log)
    (tmp_path / "planted").mkdir()
    planted, _ = _module(f, tmp_path / "planted", "subnormal_t_planted")
    assert abs(at_subnormal(planted)[1] - exact_slope) > 1e-5 * exact_slope


RADICAL_COEFFICIENT = ("5/2*(exp((u - 1)/4)) + 2/3*((u + 1/2)*log(u + 1/2)) - (log(3/2) + 5/2)"
                       " - (2**(190/807)*3**(593/807)*5**(278/807)*7**(647/807)/14)*(u - 1)")  # seed 24601, index 160


def test_numbers_raised_to_fractions_of_high_order_stay_out_of_factor(tmp_path, monkeypatch):
    """The affine term's coefficient is a product of four numbers raised to fractions of denominator 807. SymPy's
    factor takes them as generators of an algebraic field: tidying f' in derive and cancelling f's rational part
    in gen each ran past the step's 20 s (refused, then a gen failure). derive no longer factors such an f', gen
    lowers a copy with those numbers as 40-digit floats, and the module is accurate. With either rule planted
    out, the step runs out of time (under a 3 s step limit here, to keep the test short)."""
    from fdiv.codegen import emit
    from fdiv.derivation import cache, engine

    f = RADICAL_COEFFICIENT
    assert len(engine.high_order_radicals(parse(f, {"u": U}))) == 4
    assert not engine.high_order_radicals(parse("u**(2/3) + sqrt(2)*u + 3**(1/12)", {"u": U}))
    module, source = _module(f, tmp_path, "radical_coefficient")
    _accurate(module, f, roles=("conjugate_of_activation", "density_ratio"))
    monkeypatch.setenv("FDIV_NO_CACHE", "1")
    monkeypatch.setenv("FDIV_TIME_LIMIT", "3")
    with monkeypatch.context() as m:
        m.setattr(emit, "_floated_radicals", lambda d: d)
        with pytest.raises(DerivationTimeout):
            render_module(fdiv.derive(f), [])
    monkeypatch.setattr(engine, "high_order_radicals", lambda e: set())
    monkeypatch.setattr(cache, "_MEMORY", {})  # the derivation above, in this process's memory
    with pytest.raises(DerivationTimeout):
        fdiv.derive(f)


def test_softplus_slope_does_not_overflow_before_the_gradient_does(tmp_path, monkeypatch):
    """(u + 1/2) log(u + 1/2)/3 + 4 Max(1 - u, 0) + 3u + 3 (seed 27828, index 155): sigma_f is softplus(v) + c and
    f*'s slope u* = 1.9e32 at v = 29. torch's own softplus backward forms grad e^v before dividing by 1 + e^v, which
    overflows float32 for v in (20, 40) (its threshold is 40): the gradient was inf from v = 29 where the exact one
    is a float32. The runtime's softplus takes grad sigmoid(v), twice differentiable; torch's backward planted back
    fails again."""
    import torch.nn.functional as F

    from fdiv.codegen.lower import runtime

    x = torch.tensor([29.0, 35.0, -30.0, 0.0], requires_grad=True)
    (runtime._softplus(x) * 1e32).sum().backward()
    exact = [1e32 * float(mpmath.exp(v) / (1 + mpmath.exp(v))) for v in (29.0, 35.0, -30.0, 0.0)]
    assert all(abs(g - e) <= 1e-6 * e for g, e in zip(x.grad.tolist(), exact)), x.grad
    x.grad = None
    (F.softplus(x, beta=1.0, threshold=40.0) * 1e32).sum().backward()
    assert math.isinf(x.grad[0])  # the planted form: torch's own backward
    v = torch.tensor([-3.0, 0.5, 30.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(runtime._softplus, (v,)) and torch.autograd.gradgradcheck(runtime._softplus, (v,))
    f = "1/3*((u + 1/2)*log(u + 1/2)) + 4*(Max(1 - u, 0)) + 3 + 3*u"
    module, src = _module(f, tmp_path, "softplus_slope")
    assert "_Softplus.apply" in src
    v = torch.tensor([29.0, 30.0], requires_grad=True)
    module.conjugate_of_activation(v).sum().backward()
    assert torch.isfinite(v.grad).all(), v.grad
    _accurate(module, f, roles=("conjugate_of_activation",))


def test_f_star_at_the_closed_end_of_its_domain_is_its_limit_not_zero_times_log_zero(tmp_path, monkeypatch):
    """exp(-u)/3 + u/2 + 3 (seed 27828, index 162): dom f* = (-oo, 1/2], closed, with f*(1/2) = -3. f* is
    (1/2 - t) log(3 (1/2 - t)) + ..., printed expanded, -t log(3/2 - 3t) + log(3/2 - 3t)/2: NaN at t = 1/2 term by
    term, which float32's sigma_f reaches from v = 9 (conjugate(sigma_f(30)) was NaN). rule_xlogx now combines the
    terms of one log into xlogx(3/2 - 3t)/3: -3 at the end, with the one-sided slope u* = +inf. Where the rules
    leave the lowered form non-finite at the end, the end is a point of its own holding the limit. With both
    planted out, NaN again."""
    from fdiv.codegen.lower import compose, numpy_model, rules

    f = "1/3*(exp(-u)) + 3 + 1/2*u"
    module, src = _module(f, tmp_path, "closed_end")
    assert "_xlogx(" in src
    for dtype in (torch.float32, torch.float64):
        t = torch.tensor([0.5, 0.75], dtype=dtype, requires_grad=True)
        value = module.conjugate(t)
        assert value.tolist() == [-3.0, math.inf]
        value[:1].sum().backward()
        assert t.grad[0].item() == math.inf
    _accurate(module, f, roles=("conjugate",))
    half = sp.Rational(1, 2)
    # a form the rules leave NaN at the end: its limit, as a point; one they make finite: nothing to add
    assert compose._value_at_closed_end(sp.sqrt(half - T) * sp.log(half - T) - 3, half) == -3
    assert compose._value_at_closed_end(-T * sp.log(3 * half - 3 * T) + sp.log(3 * half - 3 * T) / 2 + T, half) is None
    monkeypatch.setattr(rules, "_log_terms_combined", lambda e, parts: None)
    monkeypatch.setattr(numpy_model, "_CACHE", {})  # forms lowered (rules applied) before the plant
    (tmp_path / "one").mkdir()
    point, _ = _module(f, tmp_path / "one", "closed_end_point")
    assert point.conjugate(torch.tensor([0.5])).item() == -3.0
    monkeypatch.setattr(compose, "_value_at_closed_end", lambda last, upper: None)
    (tmp_path / "planted").mkdir()
    planted, _ = _module(f, tmp_path / "planted", "closed_end_planted")
    assert math.isnan(planted.conjugate(torch.tensor([0.5])).item())


EXP_APPROACH = "2*(exp(-u/2)) + 2*(exp(-u)) + 3*(Max(1 - u, 0)) - 2 + u"  # seed 27828, index 130


def test_a_root_past_the_table_where_f_prime_nears_its_end_exponentially_is_the_asymptotes(tmp_path, monkeypatch):
    """f'(u) = 1 - 2 e^(-u) - e^(-u/2) nears f'(oo) = 1 exponentially: the hi form's gap 1 - f'(u) underflows
    float64 at u = 1490 (log c = -745), the end of its table, while the density ratio at v = 1000 is u* = 3996.
    It was stuck at 1490 from v = 380, with a NaN slope (c / f''(u) is 0/0 there). Past log c = -700 the root is
    now (log A - log c)/a, exact there to float64 (b - f' = A e^(-a u) (1 + O(e^(-700)))), with d u*/d log c = -1/a.
    Without the asymptote (planted), 1490 again. A power-law gap, or e^(-u) with a power of u in front, has no such
    asymptote."""
    from fdiv.codegen.lower import numeric

    u = U
    a, log_a, start = numeric._exp_tail(2 * sp.exp(-u) + sp.exp(-u / 2))
    assert (a, log_a, start) == (sp.Rational(1, 2), 0, 700.0)
    # A = 1/3 (seed 27828, index 35), checked with log A at 40 digits (at 15 it missed the bar by 9e-17)
    assert numeric._exp_tail(sp.exp(-u / 2) / 3) == (sp.Rational(1, 2), -sp.log(3), 700.0)
    assert numeric._exp_tail(u**-2 + u**-3) is None and numeric._exp_tail(u * sp.exp(-u)) is None
    module, _ = _module(EXP_APPROACH, tmp_path, "exp_tail")
    for dtype in (torch.float32, torch.float64):
        v = torch.tensor([1000.0, 1e4], dtype=dtype, requires_grad=True)
        ratio = module.density_ratio(v)
        ratio.sum().backward()
        # 1 - f'(u*) = c = 6/(1 + e^(2v)): u* = 2 log(1/c) + O(c) to every digit here
        exact = [4 * x - 2 * math.log(6) for x in (1000.0, 1e4)]
        assert all(abs(r - e) <= 1e-6 * e for r, e in zip(ratio.tolist(), exact)), ratio
        assert v.grad.tolist() == [4.0, 4.0]
    _accurate(module, EXP_APPROACH, roles=("density_ratio", "conjugate_of_activation"))
    monkeypatch.setattr(numeric, "_exp_tail", lambda gap: None)
    (tmp_path / "planted").mkdir()
    planted, _ = _module(EXP_APPROACH, tmp_path / "planted", "exp_tail_planted")
    assert planted.density_ratio(torch.tensor([1000.0], dtype=torch.float64)).item() < 1500


def test_a_piecewise_inside_a_branch_of_a_composed_piecewise_defines_its_branch_functions(tmp_path):
    """1/4 Max(3 - u, 0)^(3/2) + 2 Max(u - 3, 0) (seed 30103, index 27): the density ratio composed with tanh is a
    branch split at v = 0 (tanh's halves) inside the branch v < -0.56; the inner split printed a call of branch_0
    and branch_1 whose definitions were dropped with the outer branch's printer, and gen failed with a NameError.
    The module now defines them and is accurate."""
    f = "1/4*(Max(3 - u, 0)**(3/2)) + 2*(Max(u - 3, 0))"
    module, src = _module(f, tmp_path, "nested_piecewise")
    body = src[src.index("def density_ratio"):src.index("class Loss")]
    assert "_branchwise(" in body and "def branch_0(" in body and "def branch_1(" in body
    _accurate(module, f, roles=("density_ratio", "conjugate_of_activation"))


def test_a_square_root_is_taken_as_the_variable_to_cancel_a_composed_f_star(tmp_path, monkeypatch):
    """-log u + (u - 1)^2/u + u - 1 (seed 27828, index 20): f*(sigma_f(v)) composed is nine terms over
    s + 1, s = sqrt(4 softplus(-v) + 1), 131 operations, which SymPy's simplify leaves as they are (it does not use
    s^2 = 4 softplus(-v) + 1): the critic loss ran at 5.9x Jeffrey's time. With softplus(-v) = (s^2 - 1)/4 the
    rational function of s cancels to 3 - s: log1p(s) - s - log_softplus(-v) + 3 - log 2, one square root. The
    inline critic loss binds a repeated term once too. Planted out, the module repeats the square root again."""
    from fdiv.codegen import emit
    from fdiv.codegen.lower import compose

    v = sp.Symbol("v", real=True)
    s = sp.sqrt(4 * compose.softplus(-v) + 1)
    messy = (2 * s + 2 - 4 * compose.softplus(-v)) / (s + 1) + sp.log(1 + s)
    simple = compose._radical_eliminated(messy)
    assert sp.simplify(simple - (3 - s + sp.log(1 + s))) == 0 and sp.count_ops(simple) < sp.count_ops(messy)
    assert compose._radical_eliminated(sp.sqrt(v) + sp.sqrt(v + 1)) is None  # two roots: not this rewrite
    f = "-log(u) + (u - 1)**2/u - (-1)*(u - 1)"
    module, src = _module(f, tmp_path, "one_root")
    loss = src[src.index("def critic_loss"):src.index("def generator_loss")]
    assert loss.count("torch.sqrt(") == 1, loss
    _accurate(module, f, roles=("conjugate_of_activation", "critic_loss"))
    monkeypatch.setattr(compose, "_SIMPLIFIED", {})
    monkeypatch.setattr(compose, "_radical_eliminated", lambda e: None)
    monkeypatch.setattr(emit, "bind_shared", lambda text, prefix="c": ([], text))
    (tmp_path / "planted").mkdir()
    _, planted = _module(f, tmp_path / "planted", "one_root_planted")
    loss = planted[planted.index("def critic_loss"):planted.index("def generator_loss")]
    assert loss.count("torch.sqrt(") > 5


def test_f_second_derivative_with_a_root_groups_the_roots_terms_and_pairs_the_rest(tmp_path, monkeypatch):
    """1/4 (u log u - (u + 1) log(u + 1)) + sqrt(1 + u^2)/4 + (u - 1)^2/(4 (u + 2)) + affine (seed 30103, index
    18): f'' holds -u^2/(4 (u^2 + 1)^(3/2)) + 1/(4 sqrt(u^2 + 1)), which cancel to 1/(4 (u^2 + 1)^(3/2)), beside
    1/(4u) - 1/(4 (u + 1)). No candidate had both written without cancellation: the density ratio's slope 1/f''(u*)
    was 1.8e-5 off at v = 30 in both dtypes (u* = 1e11). The root's terms grouped, then the rational ones paired,
    is right on the whole grid; without the grouping (planted), the slope is off again."""
    from fdiv.codegen.lower import numeric

    f = "1/4*(u*log(u) - (u + 1)*log(u + 1)) + 1/4*(sqrt(1 + u**2)) + 1/4*((u - 1)**2/(u + 2)) + 1/2 - 2*u"
    module, src = _module(f, tmp_path, "grouped_root")
    d2f = src[src.index("def _piece0_d2f"):src.index("def _piece0_d2f") + 400]
    assert "_hypot(" in d2f and "torch.sqrt(" not in d2f
    _accurate(module, f, roles=("density_ratio",))
    monkeypatch.setattr(numeric, "_grouped_by_root", lambda x, var, factored=False: x)
    (tmp_path / "planted").mkdir()
    planted, _ = _module(f, tmp_path / "planted", "grouped_root_planted")
    report = ft.check_loss(planted.density_ratio, f, role="density_ratio", logits=[30.0])
    assert not report.ok


def test_a_tau_within_the_index_rounding_of_a_knot_does_not_fail_a_table(tmp_path, monkeypatch):
    """A GAN-family term beside 5/2 (sqrt(u) - 1)^4 (seed 30103, index 49): the runtime's index xi - xi0 keeps xi's
    bits only down to ulp(xi_m), so tau = -6.6e-16, next to the knot at tau = 0, is looked up in the interval above
    that knot; the clamp stops y at the knot, 1.2e-14 from the root (u* relative 1.2e-14, far inside the module's
    bar). The table builder counted it as the table's error: no table passed, and the 64-step fallback cost 160x
    Jeffrey's time. That rounding times dy/dxi next to a knot is now allowed there, and only there: an error of
    1e-10 next to a knot, or of the rounding in the middle of an interval, is still counted."""
    from fdiv.codegen.lower import table

    knots = np.array([-1.0, 0.0, 2.0])
    xi_m, h = 1.0, 1.0
    slack = table.index_slack(np.array([0.0, 1e-17, 0.3]), "identity", 0.0, knots, xi_m, h)
    assert slack[0] == slack[1] == 4 * np.spacing(1.0) * 2.0 and slack[2] == 0.0
    f = "1/4*(3/10*u*log(u) - (3/10*u + 7/10)*log(3/10*u + 7/10)) + 5/2*((sqrt(u) - 1)**4)"
    module, src = _module(f, tmp_path, "index_rounding")
    assert "_bracketed_newton" not in src and "_PIECE0_DIRECT_SOLVE_KNOTS" in src
    _accurate(module, f, roles=("conjugate", "density_ratio"))
    monkeypatch.setattr(table, "index_slack", lambda tau, *rest: np.zeros_like(tau))
    monkeypatch.setenv("FDIV_NO_CACHE", "1")
    (tmp_path / "planted").mkdir()
    _, planted = _module(f, tmp_path / "planted", "index_rounding_planted")
    assert "_bracketed_newton" in planted


def test_exp_of_a_huge_argument_by_range_reduction_equals_mpmath():
    """Above 600 bits mpmath raises e to x itself (x >= 2^53 is an integer in float64), one squaring per bit: 15 ms
    at u = 2^1000 and 640 digits, and 1.2 s of the gen of 3 e^(u - 1) + 3 |u - 1|^3 + a GAN-family term, whose
    forms of f' are scored at 51 such points. mp_exp reduces by log 2 instead; it must give mpmath's value to the
    last digit (a reduction with too few guard bits is off by 2^-prec * x: planted, ten guard bits fewer than x's
    magnitude)."""
    from fdiv.derivation import numeric

    for dps in (200, 640):
        with mpmath.workdps(dps):
            for x in ("1.3e12", "-1.3e12", "1e300", "-3.7e50", "2.5e9"):
                x = mpmath.mpf(x)
                with mpmath.workdps(dps + 30):
                    exact = mpmath.exp(x)
                assert abs(numeric.mp_exp(x) / exact - 1) <= mpmath.mpf(2) ** (3 - mpmath.mp.prec)
    with mpmath.workdps(640):
        x = mpmath.mpf("1e300")
        with mpmath.extraprec(int(mpmath.mag(x)) - 10):
            n = int(mpmath.floor(x / mpmath.ln2))
            y = mpmath.exp(x - n * mpmath.ln2)
        assert abs(mpmath.ldexp(+y, n) / numeric.mp_exp(x) - 1) > mpmath.mpf(2) ** (3 - mpmath.mp.prec)


def test_root_of_terms_over_one_denominator_with_a_repeated_root_is_factored():
    """sqrt(t^2/D + 2 sqrt(2) t/D + 2/D) in f* of 2 sqrt(1 + u^2) - sqrt(2) u + affine: its numerator is
    (t + sqrt(2))^2, which expanded cancels next to t = -sqrt(2) (the conjugate's float32 gradient 7x off at t =
    -1.41412). rule_power_repeated_factor writes it |t + sqrt(2)|/sqrt(D); a numerator with an odd factor, or a
    negative content, is left alone (the split would not be real)."""
    from fdiv.codegen.lower.numpy_model import numpy_function
    from fdiv.codegen.lower.rules import rule_power_repeated_factor

    r2 = sp.sqrt(2)
    den = T + r2 + 2
    e = sp.sqrt(T**2 / den + 2 * r2 * T / den + 2 / den)
    out = rule_power_repeated_factor(e)
    assert out.has(sp.Abs(T + r2)) and out != e
    # 7e-11 from the root in float64: the expanded numerator (5e-21) is rounding error; |t + sqrt(2)| keeps 1e-6
    # (sqrt(2)'s own rounding over the distance), inside the 1e-5 bar
    t = np.float64(-1.4142135623)
    exact = float(sp.N(e.subs(T, sp.Float(float(t), 30)), 30))
    got = float(numpy_function(out, T)(t))
    assert abs(got - exact) <= 1e-5 * abs(exact), (got, exact)
    plain = float(sp.lambdify(T, e, "numpy")(t))  # the form as it was, no rule applied: off
    assert not abs(plain - exact) <= 1e-5 * abs(exact), (plain, exact)
    assert rule_power_repeated_factor(sp.sqrt(T**2 / den - 1 / den)) == sp.sqrt(T**2 / den - 1 / den)
    assert not rule_power_repeated_factor(sp.sqrt(-T**2 / den - 2 * T / den - 1 / den)).has(sp.Abs)


def test_one_quadratic_root_reduced_by_its_square():
    """(sqrt(8 - 2x^2) + x^2 - 4)/sqrt(4 - x^2) is 0/0 at x = 2 (NaN at v = 88.7 in float32 under tanh); with r =
    sqrt(4 - x^2) and x^2 = 4 - r^2 it is sqrt(2) - r. Roots of two different quadratics are left alone."""
    from fdiv.codegen.lower.compose import _quadratic_root_reduced

    x = sp.Dummy("x", positive=True)
    out = _quadratic_root_reduced((sp.sqrt(8 - 2 * x**2) + x**2 - 4) / sp.sqrt(4 - x**2), x)
    assert sp.simplify(out - (sp.sqrt(2) - sp.sqrt(4 - x**2))) == 0 and not sp.fraction(sp.together(out))[1].has(x)
    assert _quadratic_root_reduced(sp.sqrt(4 - x**2) + sp.sqrt(9 - x**2 + x), x) is None


def test_a_branch_judged_wrong_is_lowered_again_with_its_radicands_factored_before_going_numeric(tmp_path,
                                                                                                 monkeypatch):
    """2 sqrt(1 + u^2) - sqrt(2) u + affine (seed 4242, index 61): SymPy's f* holds sqrt(t^2/D + 2 sqrt(2) t/D +
    2/D), and its composition under tanh had a float32 gradient 5e-4 off at v = 5 and NaN at 88.7, so the branch
    went numeric (73 KB, 4.1x Jeffrey's time, 10 s of derive + gen). Lowered again with t = -sqrt(2) + x, x > 0,
    and the radicands factored, f*(sigma_f(v)) is sqrt(2) - sqrt(2 (3 + tanh v)) e^(-softplus(2v)/2): closed, right
    on the whole grid. Planted out, the branch goes numeric with a note."""
    from fdiv.codegen.lower import compose

    f = "2*(sqrt(1 + u**2)) - (2*sqrt(2)) - (sqrt(2))*(u - 1)"
    notes: list[str] = []
    module, src = _module(f, tmp_path, "radicands", notes)
    assert "_solve" not in src and not notes, notes
    _accurate(module, f)
    monkeypatch.setattr(compose, "_radicands_factored", lambda d, outer: outer)
    monkeypatch.setenv("FDIV_NO_CACHE", "1")
    (tmp_path / "planted").mkdir()
    planted_notes: list[str] = []
    _, planted = _module(f, tmp_path / "planted", "radicands_planted", planted_notes)
    assert "_solve" in planted and any("numerically there" in n for n in planted_notes), planted_notes


def test_compositions_are_remembered_within_one_gen_only(monkeypatch):
    """gen lowers a derivation twice where the judge sends a branch numeric; within one gen (remembered) the same
    composition is computed once, and outside it every call computes (a test planting a rule out sees its effect)."""
    from fdiv.codegen.lower import compose

    d = fdiv.derive("kl")
    calls = []
    real = compose._composed
    monkeypatch.setattr(compose, "_composed", lambda d, outer: calls.append(outer) or real(d, outer))
    with compose.remembered():
        first = compose.compose(d, d.ratio_from_critic)
        assert compose.compose(d, d.ratio_from_critic) == first and len(calls) == 1
    compose.compose(d, d.ratio_from_critic)
    compose.compose(d, d.ratio_from_critic)
    assert len(calls) == 3


def test_a_tables_repeated_knots_are_written_as_runs():
    """A table clamped at an end of its range repeats that end for hundreds of knots: two such tables made 1/4
    sqrt(1 + u^2) + |u - 1| + u/2 a 109 KB module (the bar is 100 KB). Each run of 8 or more is written [v] * n;
    the list is the same floats (-0.0 and 0.0 kept apart), and a run of 7 is written out."""
    from fdiv.codegen.lower.numeric import _float_list

    values = [-1.5190238867040193] * 500 + [0.1, -0.0, 0.0] + [2.5] * 7 + [1e-300] * 9 + [3.0]
    def read(text: str) -> list[float]:  # "[a, b] + [c] * n + ...", each part a literal
        out: list[float] = []
        for part in text.split(" + "):
            items, _, times = part.partition(" * ")
            out += ast.literal_eval(items) * (int(times) if times else 1)
        return out

    text = _float_list(values)
    assert [repr(x) for x in read(text)] == [repr(x) for x in values]
    assert text.count("] * ") == 2 and len(text) < 150
    assert _float_list([1.0, 2.0]) == "[1.0, 2.0]" and read(_float_list([])) == []


def test_a_composed_branch_split_at_zero_is_kept_within_its_interval(tmp_path, monkeypatch):
    """3 Max(1/2 - u, 0) + e^(1 - u)/2 + 3 |u - 3| + affine (seed 6174, index 54): gen sends the last branch
    numeric and lowers again; the first smooth branch, composed in halves split at v = 0, sat inside the interval
    v < -1.455, and flattening lifted its half v < 0 ahead of the two branches after it. f*(sigma_f(-1)) was -0.92
    where it is -1.39, in both dtypes (the module written after the judge, unjudged). Each inner branch is now cut
    to its outer interval; the old lifting, planted back, is wrong at v = -1 again."""
    from fdiv.codegen.lower import compose
    from fdiv.derivation.activation import V

    a, b, k, last = sp.Symbol("a"), sp.Symbol("b"), sp.Symbol("k"), sp.Symbol("l")
    nested = sp.Piecewise((sp.Piecewise((a, V < 0), (b, True)), V < -1), (k, V <= 2), (last, True), evaluate=False)
    assert compose._flatten(nested).args == ((a, V < -1), (k, V <= 2), (last, True))
    inside = sp.Piecewise((sp.Piecewise((a, V < -3), (b, True)), V < -1), (last, True), evaluate=False)
    assert compose._flatten(inside).args == ((a, V < -3), (b, V < -1), (last, True))  # a split inside: kept
    f = "3*(Max(1/2 - u, 0)) + 1/2*(exp(-(u - 1))) + 3*(Abs(u - 3)) - (13/2) - (-7/2)*(u - 1)"
    module, _ = _module(f, tmp_path, "split_at_zero")
    _accurate(module, f, roles=("conjugate_of_activation",))

    def lifted(e):
        out = []
        for expr, cond in e.args:
            out += list(expr.args[:-1]) + [(expr.args[-1][0], cond)] if isinstance(expr, sp.Piecewise) else [(expr, cond)]
        return sp.Piecewise(*out, evaluate=False)

    monkeypatch.setattr(compose, "_flatten", lifted)
    monkeypatch.setenv("FDIV_NO_CACHE", "1")
    (tmp_path / "planted").mkdir()
    planted, _ = _module(f, tmp_path / "planted", "split_at_zero_planted")
    report = ft.check_loss(planted.conjugate_of_activation, f, role="conjugate_of_activation", logits=[-1.0])
    assert not report.ok


def test_negative_powers_of_wright_omega_are_exponentials(tmp_path):
    """4 (sqrt(u) - 1)^2 + u log u/3 + Max(1/2 - u, 0)^(3/2)/3 - (u - 1)/3 (seed 9001, index 63): the last branch's
    u* is 36/W(6 e^(6 - 3t/2))^2, which overflowed float32 at v = 30 once W was tiny (u* 7.5e33), so gen sent it
    numeric, where u* came out 4e31 and f* -inf at v = 100. Written as e^(3t - 12 + 2 omega) (and 48/|omega| as
    48 e^(omega - x)) the closed branch is accurate over the whole grid and kept closed."""
    f = "4*((sqrt(u) - 1)**2) + 1/3*(u*log(u)) + 1/3*(Max(1/2 - u, 0)**(3/2)) - (1/3)*(u - 1)"
    notes: list = []
    module, _ = _module(f, tmp_path, "omega_powers", notes)
    assert not [n for n in notes if "numerically there" in n], notes
    _accurate(module, f, roles=("conjugate_of_activation", "density_ratio"))


def test_a_growing_root_does_not_stop_the_other_roots_from_cancelling():
    """b u - f(u) for 3 (u log u - (u + 1) log(u + 1)) + 2 sqrt(1 + u^2) - u^(1/3)/2 - 2 + 2u (seed 9001, index
    94): u^(1/3) has no finite asymptote, and _termwise gave up on every root, so 2u - 2 sqrt(1 + u^2) cancelled
    and f* at v = 30 was -2.2e5 (float32) and 3.8e6 (float64) where it is 4.4e5. Now the growing root is left as
    it is and the other written as -2/(u + sqrt(1 + u^2)): accurate at every point out to u = 2^1000 (float64
    against mpmath, 1e-13 relative, _error's bar). Planting the old give-up back leaves 50 points bad."""
    from fdiv.codegen.lower import numeric as N

    u, R = N.U, sp.Rational
    f = 3 * (u * sp.log(u) - (u + 1) * sp.log(u + 1)) + 2 * sp.sqrt(1 + u**2) - u**R(1, 3) / 2 - 2 + 2 * u
    rest = N._simplest(4 * u - f, "b u - f(u)", "hi")
    assert N._error(rest, N._NEAR["hi"], reach=True, reference=N._reference(4 * u - f)) == 0, rest
    grouped = N._vanishing_logs_grouped(4 * u - f, u, sp.oo, -1)
    assert not sp.Add.make_args(N._termwise(grouped, sp.oo, u)).count(2 * u)  # the root's asymptote cancelled


def test_a_roots_asymptote_and_logs_split_at_infinity_cancel_together():
    """b - f'(u) for sqrt(1 + u^2)/2 + two weighted GAN terms - 2u (seed 9001, index 125) holds 1/2 - u/(2 sqrt(1 +
    u^2)), which cancels (1e-3 of b - f'(u) at u = 3e13), beside -13/6 log u + 3/2 log(u + 1) + 2/3 log(u + 2),
    which only splitting at oo turns into log1p's. No form had both, u* was 4e-4 off at v = 30 in float32; the
    logs split and then the root's terms grouped is accurate to u = 2^1000 (float64 against mpmath, 1e-13)."""
    from fdiv.codegen.lower import numeric as N

    u, R = N.U, sp.Rational
    f = (sp.sqrt(1 + u**2) / 2 + 2 * (u * sp.log(u) / 3 - (u / 3 + R(2, 3)) * sp.log(u / 3 + R(2, 3)))
         + R(3, 2) * (u * sp.log(u) - (u + 1) * sp.log((u + 1) / 2)) + R(1, 2) - 2 * u)
    df = sp.diff(f, u)
    gap = sp.limit(df, u, sp.oo) - df
    reference = N._reference(gap)
    assert N._error(gap, N._NEAR["hi"], reach=True, reference=reference) > 0  # as written, it cancels
    chosen = N._simplest(gap, "b - f'(u)", "hi")
    assert N._error(chosen, N._NEAR["hi"], reach=True, reference=reference) == 0, chosen


def test_a_log_of_a_repeated_root_is_split_before_composing(tmp_path):
    """2 e^(2(u - 1)) - 4u + 2 (seed 12345, index 107): SymPy's solve writes f* with log((t^4 + 16 t^3 + 96 t^2 +
    256 t + 256) e^8), and simplifying its composition with sigma_f took 19 s of a 20 s gen; the module raised
    s0 to the fourth power inside a log. Split (4 log(t + 4) + 8, t + 4 > 0 on the critic range) it composes
    at once and the module has no such power; the split, planted out, gives the quartic back."""
    from fdiv.codegen.lower import compose

    f = "2*(exp(2*(u - 1))) - (2) - (4)*(u - 1)"
    d = fdiv.derive(f)
    split = compose._logs_factored(d, d.conjugate)
    assert not [x for x in split.atoms(sp.log) if sp.degree(sp.numer(sp.together(x.args[0])), T) > 1], split
    assert [x for x in d.conjugate.atoms(sp.log) if sp.degree(sp.numer(sp.together(x.args[0])), T) == 4]
    module, src = _module(f, tmp_path, "log_repeated_root")
    assert "** 2) ** 2" not in src and "s0 ** 3" not in src
    _accurate(module, f, roles=("conjugate_of_activation",))
    # a factor whose sign changes over the critic range keeps its log whole (|t - 1| is not t - 1 there)
    assert compose._logs_factored(d, sp.log((T - 1) ** 2 + 0 * T)) == sp.log((T - 1) ** 2)


def test_powers_of_one_base_meet_before_they_become_expm1s():
    """f' - f'(1/2) of u log u + 3 (sqrt(u) - 2)^2 (seed 12345, index 67) holds 3 (sqrt(d + 1/2) - 2)/sqrt(d +
    1/2). Each power replaced on its own, 3 expm1(x) expm1(-x) + 3 expm1(x) + 3 expm1(-x) was a zero that
    cancelled to 10 at d = 1e34: the table accepted G's noise, u* was 1e5 times too small at t = 80 and f* -inf at
    t = 100. Expanded first, the form is accurate at both ends (float64 against mpmath, 1e-13, _error's bar)."""
    from fdiv.codegen.lower import numeric as N

    d = sp.Symbol("d", positive=True)
    gap = (sp.log(d + sp.Rational(1, 2)) + sp.log(2) - 3 * sp.sqrt(2) * (-2 + sp.sqrt(2) / 2)
           + 3 * (sp.sqrt(d + sp.Rational(1, 2)) - 2) / sp.sqrt(d + sp.Rational(1, 2)))
    form = N._vanishing_logs(N._vanishing_powers(gap, d), d)
    reference = N._reference(gap, d)
    assert [N._error(form, N._NEAR[r], reach=True, var=d, reference=reference) for r in ("lo", "hi")] == [0, 0], form


def test_where_no_form_is_accurate_the_best_get_paired_ratios_and_hypot():
    """f' - f'(0) of 3/2 sqrt(1 + u^2) + (u - 1)^2/(u + 3) + (u + 2) log(u + 2) + affine (seed 12345, index 174):
    no candidate was accurate at both ends, and the one chosen overflowed at u = 1.3e154 (sqrt(u^2 + 1) and (u +
    3)^2), where the root stopped: f* and the density ratio finite at v = 1000 in float64, where they are +inf.
    Its ratios paired and its root as hypot it is accurate at both ends."""
    from fdiv.codegen.lower import numeric as N

    u = N.U
    gap = (3 * u / (2 * sp.sqrt(u**2 + 1)) - (u - 1) ** 2 / (u + 3) ** 2 + sp.log(u + 2) - sp.log(2)
           + sp.Rational(7, 9) + (2 * u - 2) / (u + 3))
    chosen = N._simplest(gap, "f'(u) - a", "lo", var=u, both=True)
    reference = N._reference(gap, u)
    assert [N._error(chosen, N._NEAR[r], reach=True, reference=reference) for r in ("lo", "hi")] == [0, 0], chosen


def test_derivatives_of_forms_are_taken_without_the_sign_of_u(monkeypatch):
    """With u > 0, SymPy's product rule asks the sign of every sum it builds and answers by finding polynomial
    roots: f'' from a form of f' over sqrt(3 - u) (2/3 log(1 + u^2) + 5/2 |u - 3|^(3/2) + 3 (u - 1)^2/(u + 3), seed
    7777, index 91) took 15 s of a 31 s gen. _derivative differentiates on a real symbol instead: no root is
    sought (root-finding planted to fail), and the result is the same function (40 digits at three points)."""
    import sympy.polys.polyroots as polyroots

    from fdiv.codegen.lower import numeric as N

    u = N.U
    e = (16 * u**3 + 360 * sp.sqrt(2) * u**2 - 7) / (
        12 * (u + 3) ** 2 * (4 * u**2 + 45 * sp.sqrt(2) * u - sp.sqrt(3 - u) * (45 * u + 5) - 360))

    def no_roots(*args, **kwargs):
        raise AssertionError("polynomial roots sought while differentiating")

    sp.core.cache.clear_cache()
    with monkeypatch.context() as m:
        m.setattr(polyroots, "roots", no_roots)
        got = N._derivative(e)
        with pytest.raises(AssertionError, match="roots sought"):
            sp.diff(e, u)  # the positive symbol's way
    expected = sp.diff(e, u)
    for x in ("0.3", "1.7", "2.9"):
        a, b = (sp.N(z.subs(u, sp.Rational(x)), 40) for z in (got, expected))
        assert abs(a - b) <= sp.Float("1e-35") * max(1, abs(a)), (x, a, b)
    kink = N._derivative(sp.Abs(u - 3) ** 3)  # real, not complex, on either side: 3 (u - 3) |u - 3|
    assert [kink.subs(u, x) for x in (1, 5)] == [-12, 12]


def test_the_judge_asks_finiteness_at_an_end_of_the_critic_range_once_at_50_digits():
    """Whether f* and the density ratio are finite at an end of the critic range is a property of the end: at
    the lower end f'(0+) of 2 |u - 3| + e^(1 - u)/3 + affine (seed 7777, index 153) u* = 0 and both are finite;
    at its upper end f'(oo) = 13/3 u* is infinite. Asked at the digits of each logit that reaches the end (4 400 at
    v = 1e4), a numeric piece's bracket search towards u* = oo took 7 of a 10 s gen; once per end at 50 digits, the
    answers are the same, and they follow the functions (planted finite ones are found finite)."""
    from fdiv.codegen.lower.judge import _finite_at
    from fdiv.codegen.lower.rules import rule_log_repeated_factor

    d = fdiv.derive("2*Abs(u - 3) + exp(1 - u)/3 - 13/3 + 7/3*(u - 1)")
    fstar = mp_function(rule_log_repeated_factor(d.conjugate), T)
    ratio = mp_function(rule_log_repeated_factor(d.ratio_from_critic), T)
    assert d.critic_range.upper == sp.Rational(13, 3)
    assert _finite_at(d, fstar, ratio, "lower") and not _finite_at(d, fstar, ratio, "upper")
    one = lambda t: mpmath.mpf(1)  # noqa: E731 - planted: f* and the ratio finite at 13/3
    assert _finite_at(d, one, one, "upper") and not _finite_at(d, one, ratio, "upper")


def test_numeric_rewrites_are_remembered_within_one_gen_only():
    """The rewrites _simplest tries (terms grouped by root, logs split, ratios paired) are remembered while one gen
    runs (remembered_rewrites, entered by emit), so candidates that start from the same rewrite compute it once;
    outside a gen nothing is kept, so a test that plants a rewrite or a rule out sees its effect, and no gen's
    result depends on an earlier one."""
    from fdiv.codegen.lower import numeric as N

    e = sp.sqrt(1 + U**2) - U + 1 / (U + 1)
    assert N._termwise(e, sp.oo, U) == N._termwise(e, sp.oo, U) and not N._REWRITES
    with N.remembered_rewrites():
        first = N._termwise(e, sp.oo, U)
        (memo,) = N._REWRITES
        assert len(memo) >= 1 and first in memo.values()
        size = len(memo)
        assert N._termwise(e, sp.oo, U) is first and len(memo) == size  # the second call is the remembered one
    assert not N._REWRITES
