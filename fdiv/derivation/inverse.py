"""Numeric inverses of f' where SymPy finds no closed form: u*(t), the root of f'(u) = t on a smooth piece.

On a smooth strictly convex piece (lo, hi) of f, f' is strictly increasing, so f'(u) = t has exactly one
root for t strictly between f'(lo+) and f'(hi-). Two unevaluated SymPy functions stand for what the
derivation cannot write in closed form:

  SlopeInverse(t, Lambda(u, f'(u)), lo, hi)      u*(t)
  PieceConjugate(t, Lambda(u, f(u)), lo, hi)     f*(t) = t u*(t) - f(u*(t))

Both evaluate to any precision (a bracketed root in mpmath), and differentiate exactly:
d f*/dt = u*(t) and d u*/dt = 1/f''(u*(t)) (the implicit function theorem), so expressions built from them
can be differentiated by SymPy and evaluated by mpmath like any other. They are never shown as a closed form:
the derivation labels every branch that uses them as numeric.
"""
from __future__ import annotations

import mpmath
import sympy as sp
from sympy.core.function import ArgumentIndexError

from ..spec.spec import U


def _solve(df, lo, hi, t, d2f=None):
    """The root of df(u) = t on (lo, hi) at the current mpmath precision, or None when there is none.

    The search runs in y with u = map(y) (exp on (0, oo), a shifted exp on (lo, oo), a scaled logistic on
    a finite piece): a bracket is doubled until df - t changes sign, then Newton steps (with d2f) are taken
    while they stay inside the bracket, which every step shrinks, and bisection otherwise. f' is increasing,
    so the sign of df(u) - t decides each step and nothing can diverge.
    """
    if mpmath.mp.prec > 400 and d2f is not None:
        # high precision: find the root at 200 bits first, then polish it with Newton steps (each doubles the
        # correct digits), instead of bracketing at thousands of bits
        with mpmath.workprec(200):
            rough = _solve(df, lo, hi, +t, d2f)
        if rough is not None:
            polished = _polish(df, d2f, lo, hi, t, rough)
            if polished is not None:
                return polished
    lo = mpmath.mpf(lo)
    hi = mpmath.mpf(hi) if hi != sp.oo else mpmath.inf

    def point(y):
        """u and du/dy."""
        if hi == mpmath.inf:
            e = mpmath.exp(y)
            return (e if lo == 0 else lo + e), e
        w = hi - lo
        s = 1 / (1 + mpmath.exp(-y))
        u = lo + w * s if y < 0 else hi - w / (1 + mpmath.exp(y))
        return u, w * s * (1 - s)

    def g(y):
        u, _ = point(y)
        # u rounded onto a finite end: f' there, where it is finite, still orders the bracket (a root within
        # rounding of the end, t a few ulps from f'(lo), is then bisected rather than lost)
        if not (lo < u < hi or (u == lo and lo != 0) or (u == hi and hi != mpmath.inf)):
            return None
        try:
            value = df(u) - t
        except (ValueError, ZeroDivisionError, OverflowError):
            return None
        if isinstance(value, mpmath.mpc):
            value = value.real
        return value

    a, b = mpmath.mpf(-1), mpmath.mpf(1)
    ga, gb = g(a), g(b)
    for _ in range(40):  # |y| up to 2^40: u from e^-(10^12) to e^(10^12)
        if ga is None or gb is None:
            return None
        if ga < 0 < gb or ga == 0 or gb == 0:
            break
        if ga > 0:
            a, b, gb = 2 * a, a, ga
            ga = g(a)
        else:
            a, b, ga = b, 2 * b, gb
            gb = g(b)
    else:
        return None
    if ga == 0:
        return point(a)[0]
    if gb == 0:
        return point(b)[0]
    bits = mpmath.mp.prec - 8  # the working precision is 20 bits above the caller's: stop 8 bits short of it
    tol = mpmath.mpf(2) ** (-bits)
    # rtsafe: a Newton step only when it stays inside the bracket and at least halves the step before it
    # (otherwise bisection), so an f' like e^u, where Newton crawls in from one side, still converges fast
    y = (a + b) / 2
    dx_old = dx = b - a
    # at high precision (the digits that resolve e^-|v| next to an end of the critic range, |v| >= ~800), f'(u) - t
    # is known to about `tol` of t: a residual below that is a root as good as f' at this precision defines. Past
    # it the signs are rounding noise, and bisecting y on them to `tol` ran ~14 000 steps at 14 000 bits where t
    # lies e^-1e4 from a finite f'(oo) (fdiv.testing's reference at v = 1e4: minutes per point). Up to 360 digits
    # (the self-checks' 30 to 120 included) nothing changes: next to a cusp (f'' -> 0) the root is still bracketed
    # to `tol` in y
    floor = tol * max(abs(t), 1) if mpmath.mp.prec > 1200 else 0
    for _ in range(4 * bits):
        gy = g(y)
        if gy is None:
            return None
        if gy == 0 or abs(gy) <= floor:
            break
        if gy < 0:
            a = y
        else:
            b = y
        slope = None
        if d2f is not None:
            u, du = point(y)
            try:
                slope = d2f(u) * du
            except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                slope = None
        step = y - gy / slope if slope is not None and slope > 0 else None
        if step is not None and abs(step - y) <= tol * (1 + abs(y)):
            y = step  # converged: the Newton correction is below the working precision
            break
        if step is not None and a < step < b and abs(2 * gy) <= abs(dx_old * slope):
            dx_old, dx = dx, y - step
            y = step
        else:
            dx_old, dx = dx, (b - a) / 2
            y = a + dx
            if b - a <= tol * (1 + abs(y)):
                break
    return point(y)[0]


def _polish(df, d2f, lo, hi, t, u):
    """Newton steps in u from a root good to ~60 digits, up to the working precision; None if a step leaves
    the piece or the steps do not settle (the caller then brackets from scratch)."""
    lo = mpmath.mpf(lo)
    hi = mpmath.mpf(hi) if hi != sp.oo else mpmath.inf
    u = mpmath.mpf(u)
    tol = mpmath.mpf(2) ** (-(mpmath.mp.prec - 8))
    for _ in range(int(mpmath.log(mpmath.mp.prec, 2)) + 6):
        try:
            slope = d2f(u)
            step = (df(u) - t) / slope
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            return None
        if isinstance(step, mpmath.mpc) or not slope > 0:
            return None
        u = u - step
        if not lo < u < hi:
            return None
        if abs(step) <= tol * abs(u):
            return u
    return None


def _lambda_function(lam: sp.Lambda):
    from .numeric import mp_function

    return mp_function(lam.expr, lam.variables[0])


class SlopeInverse(sp.Function):
    """u*(t): the root of f'(u) = t on the piece (lo, hi); args (t, Lambda(u, f'(u)), lo, hi)."""

    nargs = 4

    @classmethod
    def eval(cls, t, df, lo, hi):
        return None  # never evaluated symbolically: there is no closed form

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        lam = self.args[1]
        d2f = sp.diff(lam.expr, lam.variables[0])
        return 1 / d2f.subs(lam.variables[0], self)

    def _eval_is_real(self):
        return True

    def _eval_is_positive(self):
        return True  # a point of (lo, hi) with lo >= 0

    def _eval_evalf(self, prec):
        return _evalf(self, prec)


class PieceConjugate(sp.Function):
    """f*(t) = t u*(t) - f(u*(t)) on one smooth piece; args (t, Lambda(u, f(u)), lo, hi)."""

    nargs = 4

    @classmethod
    def eval(cls, t, f, lo, hi):
        return None

    def slope_inverse(self) -> SlopeInverse:
        lam = self.args[1]
        var = lam.variables[0]
        return SlopeInverse(self.args[0], sp.Lambda(var, sp.diff(lam.expr, var)), self.args[2], self.args[3])

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return self.slope_inverse()

    def _eval_is_real(self):
        return True

    def _eval_evalf(self, prec):
        return _evalf(self, prec)


NUMERIC_FUNCTIONS = (SlopeInverse, PieceConjugate)


def _evalf(node: sp.Function, prec: int):
    """SymPy's evalf of a numeric node: the same evaluation as mp_implementation, at prec bits."""
    t = node.args[0].evalf(prec)
    if not t.is_Number:
        return None
    with mpmath.workprec(prec):
        try:
            value = mp_implementation(node)(mpmath.mpf(t))
        except ValueError:
            return None
        return sp.Float(value, precision=prec)


def piece_conjugate(t: sp.Expr, f: sp.Expr, lo: sp.Expr, hi: sp.Expr) -> PieceConjugate:
    return PieceConjugate(t, sp.Lambda(U, f), lo, hi)


def slope_inverse(t: sp.Expr, df: sp.Expr, lo: sp.Expr, hi: sp.Expr) -> SlopeInverse:
    return SlopeInverse(t, sp.Lambda(U, df), lo, hi)


def is_numeric(expr) -> bool:
    return isinstance(expr, sp.Basic) and expr.has(*NUMERIC_FUNCTIONS)


def mp_implementation(node: sp.Function):
    """An mpmath callable of t for one SlopeInverse / PieceConjugate node (its t argument is applied
    separately), evaluated at the caller's working precision."""
    lam = node.args[1]
    var = lam.variables[0]
    lo, hi = node.args[2], node.args[3]
    if isinstance(node, SlopeInverse):
        df = _lambda_function(lam)
        d2f = _lambda_function(sp.Lambda(var, sp.diff(lam.expr, var)))

        def inverse(t):
            with mpmath.workprec(mpmath.mp.prec + 20):
                root = _root_at_rounding(df, lo, hi, mpmath.mpf(t), d2f)
            if root is None:
                raise ValueError("t outside the slope range of the piece")
            return +root

        return inverse
    df = _lambda_function(sp.Lambda(var, sp.diff(lam.expr, var)))
    d2f = _lambda_function(sp.Lambda(var, sp.diff(lam.expr, var, 2)))
    f = _lambda_function(lam)

    def conjugate(t):
        with mpmath.workprec(mpmath.mp.prec + 20):
            t = mpmath.mpf(t)
            root = _root_at_rounding(df, lo, hi, t, d2f)
            if root is None:
                raise ValueError("t outside the slope range of the piece")
            value = t * root - f(root)
        return +(value.real if isinstance(value, mpmath.mpc) else value)

    return conjugate


def _root_at_rounding(df, lo, hi, t, d2f):
    """The root of f'(u) = t on the piece, or, where there is none, the root at t moved by 40 bits above the
    working precision's last (either way): a threshold between branches written as an expression (f'(3) for a
    kink at u = 3) evaluates a few ulps off the t given for it, which then lies just outside the piece whose end
    it is (a cache entry's check at the kink failed as "f* is not real", and the entry was never used)."""
    root = _solve(df, lo, hi, t, d2f)
    if root is None:
        nudge = mpmath.mpf(2) ** (-mpmath.mp.prec + 60) * (1 + abs(t))
        for moved in (t + nudge, t - nudge):
            root = _solve(df, lo, hi, moved, d2f)
            if root is not None:
                break
    return root


_USTAR = sp.Function("ustar")
_FSTAR = sp.Function("fstar_numeric")


def readable(expr: sp.Expr) -> sp.Expr:
    """expr with its numeric nodes shown as ustar(t) and fstar_numeric(t) (see legend())."""
    if not is_numeric(expr):
        return expr
    return expr.replace(lambda e: isinstance(e, SlopeInverse), lambda e: _USTAR(e.args[0])).replace(
        lambda e: isinstance(e, PieceConjugate), lambda e: _FSTAR(e.args[0]))


def legend(expr: sp.Expr) -> list[str]:
    """One line per numeric node in expr: which equation ustar solves, on which piece."""
    lines = []
    for node in sorted(expr.atoms(*NUMERIC_FUNCTIONS), key=sp.default_sort_key):
        lam, lo, hi = node.args[1], node.args[2], node.args[3]
        if isinstance(node, PieceConjugate):
            df = sp.diff(lam.expr, lam.variables[0])
            lines.append(f"fstar_numeric(t) = t*ustar(t) - f(ustar(t)) with f(u) = {lam.expr} on ({lo}, {hi})")
        else:
            df = lam.expr
        line = f"ustar(t): the root of f'(u) = t for u in ({lo}, {hi}), f'(u) = {df} (numeric, no closed form)"
        if line not in lines:
            lines.append(line)
    return lines
