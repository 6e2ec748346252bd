"""Validate a generator f on (0, oo): defined and real, convex; f(1); split it into smooth pieces; limits.

f(1) != 0 is allowed: the conjugate, its domain, sigma_f and the losses are well defined for any convex f,
and f(1) only shifts D_f(P||P) = f(1) (the f-GAN paper's GAN row has f(1) = -log 4).

Non-smooth f (Abs, Max, Min) is rewritten as a Piecewise and split at its kinks, so that every later step
works on smooth pieces plus the subdifferentials at the kinks.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import sympy as sp
from sympy.calculus.util import continuous_domain

from .._util.checks import SYMBOLIC, Check, numeric_method
from ..errors import DerivationError, ValidationError
from .numeric import DPS, mp_function, real_value, sample_points
from ..spec.spec import U
from .._util.timelimit import decide, step

POSITIVE = sp.Interval.open(0, sp.oo)
_X = sp.Symbol("x", positive=True)  # substitution variable for positivity proofs


@dataclass(frozen=True)
class Piece:
    """f restricted to an open interval (lo, hi) of (0, oo) where it is smooth."""

    lo: sp.Expr
    hi: sp.Expr
    f: sp.Expr
    df: sp.Expr
    d2f: sp.Expr
    affine: bool
    df_lo: sp.Expr  # f'(lo+)
    df_hi: sp.Expr  # f'(hi-)


@dataclass
class Analysis:
    f: sp.Expr
    pieces: list[Piece]
    f_at_zero: sp.Expr  # f(0+), possibly oo
    f_prime_at_zero: sp.Expr  # f'(0+), possibly -oo
    f_prime_at_infinity: sp.Expr  # f'(oo), possibly oo
    f_at_one: sp.Expr
    checks: list[Check] = field(default_factory=list)

    @property
    def kinks(self) -> list[sp.Expr]:
        return [p.hi for p in self.pieces[:-1]]


def analyse(f: sp.Expr, *, name: str = "f", symbolic: frozenset[sp.Symbol] = frozenset()) -> Analysis:
    """Check f and split it into pieces; raise ValidationError with a reason (and a point) when f is unfit.

    `symbolic` holds positive symbols that parametrise a symbolic parameter range (numeric scans use their
    sample values, see numeric.parameter_sample).
    """
    if f.free_symbols - {U} - symbolic:
        extra = ", ".join(sorted(str(s) for s in f.free_symbols - {U} - symbolic))
        raise ValidationError(f"{name}: f has free symbols other than u: {extra} (give them with --param)")
    _check_exponents(f, name)
    checks = [_check_defined(f, name)]
    f1 = _f_at_one(f)
    checks.append(Check("f(1) = 0" if f1 == 0 else f"f(1) = {f1}", True, SYMBOLIC, "" if f1 == 0 else
                        "D_f(P||P) = f(1); f(u) - f(1) gives the same f* shifted by f(1) and D_f(P||P) = 0"))
    pieces = _pieces(f, name)
    if all(p.affine for p in pieces) and len(pieces) == 1:
        raise ValidationError(f"{name}: f is affine on (0, oo), so D_f is identically {f1}; nothing to estimate")
    checks.append(_check_convex(pieces, name))
    first, last = pieces[0], pieces[-1]
    f0 = _limit(first.f, sp.Integer(0), "+", "f(0+)")
    return Analysis(f, pieces, f0, first.df_lo, last.df_hi, f1, checks)


def _check_exponents(f: sp.Expr, name: str) -> None:
    for p in f.atoms(sp.Pow):
        if p.exp.is_number and abs(p.exp) > 64:
            raise ValidationError(f"{name}: exponent {p.exp} is outside [-64, 64]")


def _f_at_one(f: sp.Expr) -> sp.Expr:
    value = f.subs(U, 1)
    ok, simplified = decide("simplifying f(1)", sp.simplify, value, seconds=5)
    value = simplified if ok else value
    if value.has(sp.zoo, sp.nan) or value.is_finite is False:
        raise ValidationError(f"f(1) = {value} is not a real number")
    return value


def _limit(expr: sp.Expr, point: sp.Expr, direction: str, what: str) -> sp.Expr:
    if point.is_finite:
        direct = expr.subs(U, point)
        if direct.is_finite and direct.is_real:
            return sp.nsimplify(direct) if direct.is_Float else direct
    with step(f"computing {what}"):  # a timeout stays a DerivationTimeout; SymPy's failures one error
        value = sp.limit(expr, U, point, direction)
    if isinstance(value, sp.Limit) or value.has(sp.AccumBounds) or value == sp.zoo or value.is_extended_real is False:
        raise DerivationError(f"could not compute {what} (SymPy returned {value})")
    return value


def _check_defined(f: sp.Expr, name: str) -> Check:
    """f real and finite on (0, oo): SymPy's continuous_domain, else a numeric scan (labelled)."""
    ok, domain = decide("finding where f is defined", continuous_domain, f, U, POSITIVE, seconds=5)
    if ok:
        missing = POSITIVE - domain
        if missing is sp.S.EmptySet:
            return Check("f real and finite on (0, oo)", True, SYMBOLIC)
        point = _point_in(missing)
        raise ValidationError(f"{name}: f is not real and finite on all of (0, oo): at u = {point}, f = {f.subs(U, point)}")
    fn = mp_function(f, U)
    points = sample_points(sp.Integer(0), sp.oo, 60)
    for x in points:
        if real_value(fn, x) is None:
            raise ValidationError(f"{name}: f is not real and finite on all of (0, oo): at u = {x}, f = {f.subs(U, x)}")
    return Check("f real and finite on (0, oo)", True, numeric_method(len(points)), domain)


def _point_in(s: sp.Set) -> sp.Expr:
    if isinstance(s, sp.FiniteSet):
        return min(s.args)
    if isinstance(s, sp.Union):
        return _point_in(s.args[0])
    if isinstance(s, sp.Interval):
        if s.end == sp.oo:
            return s.start + 1
        return (s.start + s.end) / 2 if s.start != s.end else s.start
    return sp.Integer(1)


def _pieces(f: sp.Expr, name: str) -> list[Piece]:
    """Split f at its kinks into smooth pieces on open intervals, ordered from 0 to oo."""
    parts: list[tuple[sp.Expr, sp.Expr, sp.Expr]] = []
    if f.has(sp.Abs, sp.Max, sp.Min, sp.Piecewise):
        with step("splitting f into smooth pieces"):
            pw = sp.piecewise_fold(f.rewrite(sp.Piecewise))
            if isinstance(pw, sp.Piecewise):
                covered: sp.Set = sp.S.EmptySet
                for expr, cond in pw.args:
                    region = (cond.as_set() if cond is not sp.true else sp.S.Reals) & POSITIVE
                    region = region - covered
                    covered = covered | region
                    for interval in _intervals(region):
                        parts.append((interval.start, interval.end, expr))
            else:
                parts = [(sp.Integer(0), sp.oo, pw)]
    else:
        parts = [(sp.Integer(0), sp.oo, f)]
    parts.sort(key=lambda p: float(p[0]))
    merged: list[list] = []
    for lo, hi, expr in parts:
        if merged and merged[-1][1] == lo and _same(merged[-1][2], expr):
            merged[-1][1] = hi
        else:
            merged.append([lo, hi, expr])
    if not merged or merged[0][0] != 0 or merged[-1][1] != sp.oo or any(a[1] != b[0] for a, b in zip(merged, merged[1:])):
        raise DerivationError(f"{name}: could not split f into pieces covering (0, oo)")
    pieces = []
    for lo, hi, expr in merged:
        with step("differentiating f"):
            df = sp.diff(expr, U)
            d2f = sp.diff(df, U)
        affine = _same(d2f, sp.Integer(0))
        df_lo = _limit(df, lo, "+", f"f'({lo}+)")
        df_hi = _limit(df, hi, "-", f"f'({hi}-)")
        pieces.append(Piece(lo, hi, expr, df, d2f, affine, df_lo, df_hi))
    return pieces


def _same(a: sp.Expr, b: sp.Expr) -> bool:
    """a == b, proved by simplify under a time limit (False when SymPy cannot tell in time)."""
    if a == b:
        return True
    ok, diff = decide("comparing expressions", sp.simplify, a - b, seconds=5)
    return ok and diff == 0


def _intervals(region: sp.Set) -> list[sp.Interval]:
    if isinstance(region, sp.Interval):
        return [region] if region.measure != 0 else []
    if isinstance(region, sp.Union):
        return [i for a in region.args for i in _intervals(a)]
    return []  # empty or isolated points


def _check_convex(pieces: list[Piece], name: str) -> Check:
    """f'' >= 0 on each piece (a numeric scan first, to name a counterexample), slopes rising at kinks."""
    methods = []
    scanned = 0
    for piece in pieces:
        if piece.affine:
            methods.append(SYMBOLIC)
            continue
        fn = mp_function(piece.d2f, U)
        # simplest points first, so a counterexample reads well (f''(1) < 0 rather than f''(2**-30) < 0)
        points = sorted(sample_points(piece.lo, piece.hi, 40), key=lambda x: abs(float(sp.log(x))) if x > 0 else 0)
        scanned += len(points)
        for x in points:
            value = real_value(fn, x)
            if value is not None and value < -mpmath.mpf(10) ** (-DPS + 5):
                raise ValidationError(
                    f"{name}: f is not convex on (0, oo): f''({x}) = {mpmath.nstr(value, 6)} < 0")
        methods.append(SYMBOLIC if _nonnegative(piece.d2f, piece.lo, piece.hi) else "numeric")
    for left, right in zip(pieces, pieces[1:]):
        c = left.hi
        if not _same(left.f.subs(U, c), right.f.subs(U, c)):
            raise ValidationError(f"{name}: f is discontinuous at u = {c}, so it is not convex")
        ok, fall = decide("comparing slopes at a kink", lambda: sp.simplify(right.df_lo - left.df_hi).is_negative)
        if ok and fall:
            raise ValidationError(
                f"{name}: f is not convex on (0, oo): its slope falls from {left.df_hi} to {right.df_lo} at u = {c}")
    if all(m == SYMBOLIC for m in methods):
        return Check("f convex on (0, oo): f'' >= 0", True, SYMBOLIC)
    return Check("f convex on (0, oo): f'' >= 0", True, numeric_method(scanned),
                 "SymPy could not prove f'' >= 0 in time; no sampled point has f'' < 0")


def _nonnegative(expr: sp.Expr, lo: sp.Expr, hi: sp.Expr) -> bool:
    """Prove expr(u) >= 0 for u in (lo, hi) by substituting a positive variable and asking SymPy's assumptions."""
    if hi == sp.oo:
        mapped = expr.subs(U, lo + _X)
    else:
        mapped = expr.subs(U, lo + (hi - lo) * _X / (1 + _X))
    for step in (lambda e: e, sp.cancel, sp.factor, sp.simplify):
        ok, form = decide("proving f'' >= 0", step, mapped, seconds=3)
        if ok and form.is_nonnegative:
            return True
    return False
