"""Self-checks reported with every derivation, each marked symbolic or numeric (30 digits, k points).

  Fenchel-Young equality   f*(f'(u)) + f(u) = u f'(u) on every smooth piece
  Fenchel-Young inequality f(u) + f*(t) >= u t on a grid of (u, t)
  value at f'(1)           f*(f'(1)) = f'(1) - f(1)
  biconjugate              f**(u) = sup_t (u t - f*(t)) = f(u), the sup found by golden-section search
  activation               sigma_f(R) is inside dom f*
"""
from __future__ import annotations

import mpmath
import sympy as sp

from .activation import V
from .._util.checks import SYMBOLIC, Check, numeric_method
from .conjugate import T, Conjugate, lambert_of_y_exp_y
from .numeric import DPS, golden_max, mp_function, numeric_form, real_value, sample_points, to_mpf
from ..spec.spec import U
from .._util.timelimit import decide
from .validate import Analysis

_TOL = mpmath.mpf(10) ** (-DPS + 8)


def self_checks(a: Analysis, c: Conjugate, sigma: sp.Expr, f_prime_at_one: sp.Expr) -> list[Check]:
    return [
        _fenchel_young_equality(a, c),
        _fenchel_young_inequality(a, c),
        _value_at_f_prime_one(a, c, f_prime_at_one),
        _biconjugate(a, c),
        _activation_in_domain(c, sigma),
    ]


#: Beyond this many operations a gap is not handed to simplify (which can take minutes on it): the check is then
#: numeric, by a rule on the expression's size rather than by how long simplify ran.
MAX_SIMPLIFY_OPS = 120


def _is_zero(expr: sp.Expr, what: str) -> bool:
    if expr.has(sp.LambertW):
        expr = lambert_of_y_exp_y(expr)
    if sp.count_ops(expr) > MAX_SIMPLIFY_OPS:
        return False
    for step in (sp.simplify, lambda e: sp.simplify(sp.expand_log(e, force=True))):
        ok, form = decide(what, step, expr)
        if ok and form == 0:
            return True
    return False


#: The precisions a numeric check tries in turn: a correct closed form that cancels (loses digits at a sample
#: point) is judged at the precision that carries them; a wrong one fails at every precision.
PRECISIONS = (DPS, 2 * DPS, 4 * DPS)


def _vanishes(fn, x, scale=None) -> int | None:
    """The first precision of PRECISIONS at which fn(x) is 0 to 10^-(DPS - 8) relative to 1 + |scale(x)|, or None
    (not real, or not small at any of them). The tolerance stays that of the first precision: more digits only
    undo a cancellation in evaluating a correct formula (at a tolerance shrinking with them, a form that cancels
    k digits would fail at every precision)."""
    tolerance = mpmath.mpf(10) ** (8 - PRECISIONS[0])
    for digits in PRECISIONS:
        value = real_value(fn, x, dps=digits)
        size = abs(real_value(scale, x, dps=digits) or 0) if scale is not None else 0
        if value is not None and abs(value) <= tolerance * (1 + size):
            return digits
    return None


def _fenchel_young_equality(a: Analysis, c: Conjugate) -> Check:
    name = "Fenchel-Young equality f*(f'(u)) + f(u) = u f'(u)"
    smooth = [b for b in c.branches if b.kind == "smooth"]
    pieces = [p for p in a.pieces if not p.affine]
    symbolic, points, digits, skipped = True, 0, DPS, 0
    for branch, piece in zip(smooth, pieces):
        gap = branch.expr.subs(T, piece.df) + piece.f - U * piece.df
        if not branch.numeric and _is_zero(gap, "checking Fenchel-Young equality"):
            continue
        symbolic = False
        fn, scale = mp_function(gap, U), mp_function(U * piece.df, U)
        sizes = (mp_function(piece.f, U), scale)
        for x in sample_points(piece.lo, piece.hi, 12):
            if _beyond_resolution(sizes, x):
                skipped += 1
                continue
            used = _vanishes(fn, x, scale)
            points += 1
            if used is None:
                return Check(name, False, numeric_method(points, digits), f"fails at u = {x} (up to {PRECISIONS[-1]} digits)")
            digits = max(digits, used)
    if skipped and points == 0:
        return Check(name, False, numeric_method(0, digits), f"no sample point with f(u) and u f'(u) within 1e{FY_MAGNITUDE}")
    note = f"{skipped} points with f(u) or u f'(u) beyond 1e{FY_MAGNITUDE} left out" if skipped else ""
    return Check(name, True, SYMBOLIC if symbolic else numeric_method(points, digits), note)


#: The Fenchel-Young gap is checked where f(u) and u f'(u) are within 10^FY_MAGNITUDE. A correct closed form of f*
#: can hold terms of size t^2 (t = f'(u)) that cancel to u t: past that size the cancellation outgrows the largest
#: of PRECISIONS (f = e^(u/2) at u = 2^20 needs some 200 000 digits), and a failure there would judge the float
#: evaluation, not the formula. The generated module is judged against a reference at every logit separately.
FY_MAGNITUDE = 40


def _beyond_resolution(sizes, x) -> bool:
    """True where one of sizes (functions of u) exceeds 10^FY_MAGNITUDE at x (one that is not real there is left
    to the check itself)."""
    values = [real_value(size, x, dps=15) for size in sizes]
    return any(v is not None and abs(v) > mpmath.mpf(10) ** FY_MAGNITUDE for v in values)


def _fenchel_young_inequality(a: Analysis, c: Conjugate) -> Check:
    name = "Fenchel-Young inequality f(u) + f*(t) >= u t"
    f_fn, g_fn = mp_function(a.f, U), mp_function(c.expr, T)
    us = sample_points(sp.Integer(0), sp.oo, 12)
    ts = _domain_points(c, 12)
    gs = [real_value(g_fn, y) for y in ts]  # each f*(t) once (a numeric branch solves f'(u) = t for it)
    checked = skipped = 0
    for x in us:
        fx = real_value(f_fn, x)  # None: too costly to evaluate there (f is real on (0, oo): validated)
        for y, gy in zip(ts, gs):
            if fx is None or gy is None:
                skipped += 1
                continue
            checked += 1
            if fx + gy - to_mpf(x) * to_mpf(y) < -_TOL * (1 + abs(fx) + abs(gy)):
                return Check(name, False, numeric_method(checked), f"fails at u = {x}, t = {y}")
    detail = f"{skipped} pairs not evaluable in time were skipped" if skipped else ""
    return Check(name, checked >= 20, numeric_method(checked), detail or ("" if checked >= 20 else "too few points"))


def _value_at_f_prime_one(a: Analysis, c: Conjugate, fp1: sp.Expr) -> Check:
    name = "f*(f'(1)) = f'(1)" if a.f_at_one == 0 else "f*(f'(1)) = f'(1) - f(1)"
    gap = c.expr.subs(T, fp1) - (fp1 - a.f_at_one)
    if not c.numeric and _is_zero(gap, "checking f*(f'(1))"):
        return Check(name, True, SYMBOLIC)
    digits = _vanishes(mp_function(gap, T), 0)
    return Check(name, digits is not None, numeric_method(1, digits or PRECISIONS[-1]))


def _biconjugate(a: Analysis, c: Conjugate) -> Check:
    """f**(u) = sup_t (u t - f*(t)) at sampled u. u t - f*(t) is concave in t and its maximiser is t = f'(u),
    so the search runs over an interval around f'(u) (of half-width 1 + |f'(u)|, cut at the end of dom f*):
    a fixed interval would miss maximisers far out (f'(20) = 27436 for f = (u - 1)^4)."""
    name = "biconjugate f**(u) = f(u)"
    g_fn, f_fn = mp_function(c.expr, T), mp_function(a.f, U)
    us = [sp.Rational(v) for v in ("1/8", "1/2", "1", "2", "5", "20")]
    used = DPS
    for x in us:
        piece = next(p for p in a.pieces if p.lo < x < p.hi or p.hi == x)
        for digits in PRECISIONS:  # a closed form that cancels: judged at the precision that carries its digits
            verdict = _biconjugate_at(c, g_fn, f_fn, piece, x, digits)
            if verdict is None:
                used = max(used, digits)
                break
        else:
            return Check(name, False, numeric_method(len(us), PRECISIONS[-1]), verdict)
    return Check(name, True, numeric_method(len(us), used))


def _biconjugate_at(c: Conjugate, g_fn, f_fn, piece, x, digits: int) -> str | None:
    """None where sup_t (x t - f*(t)) = f(x) to 10^-(digits - 10), else what is wrong, at `digits` digits."""
    upper = to_mpf(c.domain.upper)
    with mpmath.workdps(digits + 10):
        xm = mpmath.mpf(x)
        slope = real_value(mp_function(piece.df, U), x, dps=digits)
        if slope is None:
            return f"f'({x}) is not real"

        def phi(y):
            if y > upper or (y == upper and not c.domain.upper_closed):
                return -mpmath.inf  # outside dom f*, where f* = +oo (never evaluated there)
            g = real_value(g_fn, y, dps=digits)
            return -mpmath.inf if g is None else xm * y - g

        width = 1 + abs(slope)
        lo, hi = slope - width, min(slope + width, upper)
        # the bracket shrinks 0.618x a step, to 10^-(digits/2 + 3) of itself: next to a smooth maximiser the value's
        # error is quadratic in the distance. At a kink of f* (total variation), or where f*'' is infinite ((sqrt(u)
        # - 1)^4 at u = 1), it is not, and there the maximiser t = f'(u) itself is compared too: a correct f* gives
        # f(u) exactly at it (Fenchel-Young), a wrong one a value off by its error there, and the search finds a
        # larger one elsewhere to within its bracket (to 10^-(digits/2 + 3), 165 steps to 10^-(digits + 3) were 3.5
        # s of a 6 s derive with a numeric f*)
        best = max(golden_max(phi, lo, hi, iterations=int((digits / 2 + 3) / 0.2)), phi(slope))
        fx = real_value(f_fn, x, dps=digits)
        if fx is None or abs(best - fx) > mpmath.mpf(10) ** (10 - digits) * (1 + abs(fx)):
            return f"at u = {x}: f** = {mpmath.nstr(best, 12)}, f = {mpmath.nstr(fx, 12) if fx is not None else fx}"
    return None


def _activation_in_domain(c: Conjugate, sigma: sp.Expr) -> Check:
    name = "activation maps R into dom f*"
    ok, ends = decide("checking the activation's range",
                       lambda: (sp.limit(sigma, V, -sp.oo), sp.limit(sigma, V, sp.oo),
                                sp.simplify(sp.diff(sigma, V)).is_positive), seconds=10)
    if not ok:
        return Check(name, False, SYMBOLIC, ends)
    lo, hi, increasing = ends
    d = c.domain
    # sigma is strictly increasing, so sigma(R) is the open interval (lo, hi): closedness of dom f* cannot matter
    ok = bool(increasing) and _le(d.lower, lo) and _le(hi, d.upper)
    return Check(name, ok, SYMBOLIC, f"sigma_f(R) = ({lo}, {hi}), dom f* = {d}")


def _le(a: sp.Expr, b: sp.Expr) -> bool:
    """a <= b for exact constants (+-oo allowed): SymPy's sign of b - a, else 50-digit evaluation."""
    if a == -sp.oo or b == sp.oo or a == b:
        return True
    if a == sp.oo or b == -sp.oo:
        return False
    diff = sp.simplify(b - a)
    if diff.is_nonnegative is not None:
        return bool(diff.is_nonnegative)
    return bool(sp.N(numeric_form(diff), 50) >= -sp.Float(10) ** -40)


def _domain_points(c: Conjugate, count: int) -> list[sp.Rational]:
    d = c.domain
    upper = numeric_form(d.upper) if d.upper.is_finite else sp.Integer(30)
    pts = [sp.nsimplify(upper - sp.Rational(2) ** k, rational=True) for k in range(-10, 6)]
    if d.upper_closed:
        pts.append(numeric_form(d.upper))
    return pts[: count + 1]
