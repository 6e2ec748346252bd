"""Lowering of numeric conjugate branches: torch code that solves f'(u) = t, with exact gradients.

A branch without a closed form is f*(t) = t u* - f(u*), u* the root of f'(u) = t on a piece (lo, hi) where
f' increases. The generated module solves for y, u = map(y) (e^y on (0, oo), a shifted e^y on (lo, oo), a
logistic on a finite piece): a table of the inverse built at lowering time (lower.table) gives the knot interval
that holds the root, a bracket, and a start interpolated in the table's index variable; then a fixed number of
Newton steps, each clamped to the bracket, chosen per dtype at lowering time by running the same algorithm
against a bisection (1 or 2 steps in float32, 2 or 3 in float64 for most f). On the CPU the solve runs over
slices of 256 KiB (runtime._chunked), where its temporaries stay in the cache. The solve runs in the input's dtype
where f's expressions evaluate in float32 over the whole range (_float32_safe), else in float64. Where no table of
up to 1024 knots reaches float64 resolution within 4 steps, the piece keeps a 64-step bracketed Newton iteration
in float64 (runtime._bracketed_newton). The result is wrapped in a torch.autograd.Function whose backward is the
implicit function theorem: d f*/dt = u*, d u*/dt = 1/f''(u*). Gradients never run through the iterations.

Each piece is solved in one of three forms, chosen so that no digits are lost where u* runs to 0 or oo:
  direct  f'(u) = t (or its signed log, where f' grows like e^u), indexed by sign(t) log(1 + |t|), or by that
          of cbrt(t - f'(u0)) where f''(u0) = 0 (the inverse has a cube-root cusp there: (sqrt(u) - 1)^4)
  lo      log(f'(u) - a) = log c,  t = a + c        (the piece starts at u = 0 with finite slope a = f'(0+))
  hi      -log(b - f'(u)) = -log c, t = b - c       (the piece runs to oo with finite slope b = f'(oo))
with f'(u) - a, b - f'(u), a u - f(u) and b u - f(u) simplified symbolically first, so the distances to
the ends of the slope range are computed without cancellation. The value in the anchored forms is
(a u - f(u)) + c u or (b u - f(u)) - c u; c u = exp(log c + log u) never overflows before the result does.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ...derivation.conjugate import T, Branch
from ...errors import DerivationError
from ...derivation.inverse import PieceConjugate
from ...spec.spec import U
from ..._util.timelimit import decide
from .numpy_model import numpy_function
from .printer import JAX_BACKEND as BACKEND_JAX, Printer
from .rules import hypot, apply_rules, ratio
from .table import T_COMPRESS, Table, build
from .zero import ZeroSeries, zero_source, zero_series

_Y_RANGE = {"exp": (-745.0, 709.0), "shifted": (-745.0, 709.0), "logistic": (-745.0, 745.0)}


@dataclass(frozen=True)
class NumericPiece:
    index: int
    f: sp.Expr
    lo: sp.Expr  # the piece is u in (lo, hi)
    hi: sp.Expr
    slope_lo: sp.Expr  # f'(lo+), f'(hi-)
    slope_hi: sp.Expr
    cusp: float | None = None  # f'(u0) where f''(u0) = 0 inside a piece with a finite end slope (see forms)

    @property
    def forms(self) -> tuple[str, ...]:
        """An anchored form at each finite end of the slope range (a piece that ends at a kink has one there too),
        the direct form where the slope range is all of R, and around a cusp: there f' - f'(u0) ~ (u - u0)^3 is
        far below the distance of f'(u0) to the end, which the anchored form solves in, so that distance does not
        resolve u*: 0.4 % off in float32 at t = f'(u0) for 5/2 (sqrt(u) - 1)^4 beside 2 Max(u - 3, 0)."""
        out = []
        if self.slope_lo.is_finite:
            out.append("lo")
        if self.cusp is not None or not (self.slope_lo.is_finite or self.slope_hi.is_finite):
            out.append("direct")
        if self.slope_hi.is_finite:
            out.append("hi")
        return tuple(out)

    @property
    def cuts(self) -> tuple[sp.Expr, ...]:
        """The slopes t where the branch passes from one form to the next (branch_call): the middle of the slope
        range between two anchored forms, the middle between the cusp's slope and the end next to a direct form."""
        forms = self.forms
        if self.cusp is None:
            return ((self.slope_lo + self.slope_hi) / 2,) if len(forms) == 2 else ()
        t0 = sp.Float(self.cusp, 17)
        return tuple((t0 + (self.slope_lo if form == "lo" else self.slope_hi)) / 2 for form in forms if form != "direct")

    def served(self, form: str, t: np.ndarray) -> np.ndarray:
        """Where the form serves t (the whole piece for its only form)."""
        forms, cuts = self.forms, [float(c) for c in self.cuts]
        i = forms.index(form)
        keep = np.ones_like(t, dtype=bool)
        if i > 0:
            keep &= t >= cuts[i - 1]
        if i < len(cuts):
            keep &= t <= cuts[i]
        return keep

    def reach(self, form: str) -> tuple[float, float]:
        """The slopes t the form's table covers: where it serves, and half as far again beyond each cut, short of
        the far end of the slope range (where the anchored forms' inverses have a log singularity)."""
        forms, cuts = self.forms, [float(c) for c in self.cuts]
        i = forms.index(form)
        lo = cuts[i - 1] if i > 0 else -np.inf
        hi = cuts[i] if i < len(cuts) else np.inf
        if form == "lo" and np.isfinite(hi):
            hi = float(self.slope_lo) + 1.5 * (hi - float(self.slope_lo))
        if form == "hi" and np.isfinite(lo):
            lo = float(self.slope_hi) - 1.5 * (float(self.slope_hi) - lo)
        if form == "direct":
            lo = float(self.cusp) - 1.5 * (float(self.cusp) - lo) if np.isfinite(lo) else lo
            hi = float(self.cusp) + 1.5 * (hi - float(self.cusp)) if np.isfinite(hi) else hi
        return lo, hi

    def call(self, form: str, arg: sp.Expr, ratio: bool = False) -> sp.Expr:
        """A placeholder the printer writes as a call of the generated function."""
        return sp.Function(f"_piece{self.index}_{form}{'_ratio' if ratio else ''}")(arg)


def numeric_pieces(branches: tuple[Branch, ...]) -> dict[int, NumericPiece]:
    """The numeric branches by their position in `branches`."""
    out, previous = {}, -sp.oo
    for i, b in enumerate(branches):
        if b.numeric:
            node = next(iter(b.expr.atoms(PieceConjugate)))
            f, lo, hi = node.args[1].expr.xreplace({node.args[1].variables[0]: U}), node.args[2], node.args[3]
            piece = NumericPiece(len(out), f, lo, hi, previous, b.upper)
            if previous.is_finite or b.upper.is_finite:
                piece = NumericPiece(len(out), f, lo, hi, previous, b.upper, _inner_cusp(piece))
            out[i] = piece
        previous = b.upper
    return out


def _inner_cusp(piece: NumericPiece) -> float | None:
    """f'(u0) of a cusp inside the piece (see _cusp), where it is not next to the ends of the slope range."""
    cusp = cusp_root(piece.f, piece.lo, piece.hi)
    if cusp is None:
        return None
    t0 = cusp[1]
    a, b = piece.slope_lo, piece.slope_hi
    width = float(b - a) if a.is_finite and b.is_finite else None
    for end in (a, b):
        if end.is_finite and abs(t0 - float(end)) <= 1e-3 * (width if width else max(1.0, abs(float(end)))):
            return None  # at an end: the anchored form's own variable resolves it
    return t0


# The rewrites below are pure functions of their (hashable) arguments, and _simplest's candidates share them: the
# same e expanded, split at oo or with its vanishing logs written out is the start of up to five candidates, and
# the same f' or s u - f(u) reaches _simplest for each piece. Within one gen (remembered_rewrites, entered by
# fdiv.codegen.emit), each is computed once; never across gens, so a test that plants a rewrite or a rule out sees
# it, and one gen's result never depends on what an earlier one computed.
_REWRITES: list[dict] = []


@contextmanager
def remembered_rewrites() -> Iterator[None]:
    _REWRITES.append({})
    try:
        yield
    finally:
        _REWRITES.pop()


def _remembered(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        if not _REWRITES:
            return fn(*args, **kwargs)
        key = (fn, args, tuple(sorted(kwargs.items())))
        memo = _REWRITES[-1]
        if key not in memo:
            memo[key] = fn(*args, **kwargs)
        return memo[key]

    return run


_expand = _remembered(sp.expand)
_apart = _remembered(sp.apart)


@_remembered
def _rationalised(e: sp.Expr) -> sp.Expr:
    """P + Q sqrt(A) over D as (P^2 - Q^2 A) / ((P - Q sqrt(A)) D): the difference 1 - u/sqrt(1 + u^2) of two
    nearly equal terms becomes 1/(sqrt(1 + u^2) (sqrt(1 + u^2) + u)), with no cancellation left."""
    num, den = sp.fraction(sp.together(e))
    roots = sorted({p for p in num.atoms(sp.Pow) if p.exp == sp.Rational(1, 2) and p.free_symbols},
                   key=sp.default_sort_key)
    if len(roots) != 1:
        return e
    root = roots[0]
    parts = sp.collect(sp.expand(num), root, evaluate=False)
    if set(parts) - {sp.S.One, root}:
        return e
    p, q = parts.get(sp.S.One, sp.S.Zero), parts.get(root, sp.S.Zero)
    return sp.expand(p**2 - q**2 * root.base) / ((p - q * root) * den)


@_remembered
def _termwise(e: sp.Expr, at: sp.Expr, var: sp.Symbol = U) -> sp.Expr:
    """e's terms grouped by the radicals they hold, each radical group less its own asymptote at `at` (a u + b
    at u = oo, its limit at 0) and rationalised on its own, the rest cancelled into one fraction. Differences of
    nearly equal large terms then cancel symbolically: 2 - f'(u) for f' = u/sqrt(1 + u^2) + (u - 1)(u + 3)/(u + 1)^2
    is 1/(sqrt(1 + u^2) (sqrt(1 + u^2) + u)) + 4/(u + 1)^2 (over one denominator, u^7, it overflows at u ~ 1e44),
    and 2u - f(u) for f = sqrt(1 + u^2) + (u - 1)^2/(u + 1) - sqrt(2) is (3u - 1)/(u + 1) + sqrt(2) - 1/(u +
    sqrt(1 + u^2)): each accurate in float64 as far as u^2 is a float."""
    groups: dict[frozenset, list] = {}
    for term in sp.Add.make_args(sp.expand(e)):
        radicals = frozenset(p for p in term.atoms(sp.Pow) if p.free_symbols and p.exp.is_Rational and not p.exp.is_Integer)
        groups.setdefault(radicals, []).append(term)
    rest = sp.Add(*groups.pop(frozenset(), []))
    if not groups:
        return e
    side = "-" if at == sp.oo else "+"
    parts = []
    for terms in groups.values():
        group = sp.Add(*terms)
        slope = sp.limit(group / var, var, at, side) if at == sp.oo else sp.S.Zero
        end = sp.limit(group - slope * var, var, at, side) if slope.is_finite else sp.oo
        if not (slope.is_finite and end.is_finite):
            # a radical that grows on its own (u^(1/3)) is left as it is, and the other groups still cancel:
            # 4u - f(u) for -u^(1/3)/2 + 2 sqrt(1 + u^2) + ... kept 2u - 2 sqrt(1 + u^2), 4e5 off at v = 30
            parts.append(group)
            continue
        parts.append(_rationalised(sp.expand(group - slope * var - end)))
        rest += slope * var + end
    return sp.Add(*parts) + sp.cancel(rest)


def _reference(e: sp.Expr, var: sp.Symbol = U):
    """x -> e(x) in mpmath (None where it is not a number), at enough digits that e's own cancellation does not
    matter, remembered: every candidate form of one expression is scored against the same values (computed once,
    and a rewrite that changed the value would be caught)."""
    import mpmath
    import numpy as np

    from ...derivation.numeric import mp_exp

    exact = sp.lambdify(var, _plain(e), [{"expm1": mpmath.expm1, "exp": mp_exp}, "mpmath"])
    memo: dict = {}

    def value(x: float):
        if x not in memo:
            try:
                # a form that cancels loses ~2 log10(u) digits: the reference carries them
                with mpmath.workdps(40 + 2 * int(abs(np.log10(x)))):
                    memo[x] = exact(mpmath.mpf(x))
            except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                memo[x] = None
        return memo[x]

    return value


def _error(e: sp.Expr, points: list, *, reach: bool = False, var: sp.Symbol = U, reference=None) -> int:
    """How many of the points e evaluates badly in float64 (numpy): more than 1e-13 relative from mpmath (at
    enough digits that its own cancellation does not matter; `reference`, _reference of an equivalent form, or
    e's own), or not finite where the exact value is a normal float. With reach=True (points ordered outwards
    towards an end), how many points lie past the first bad one: a form that stays accurate further towards
    u = 0 or oo scores lower."""
    import mpmath
    import numpy as np

    fast, exact = _numpy(e, var), reference or _reference(e, var)
    bad = 0
    with np.errstate(all="ignore"):
        for x in points:
            ref = exact(x)
            if ref is None:
                continue
            if isinstance(ref, mpmath.mpc) or not mpmath.isfinite(ref) or not 1e-300 < abs(ref) < 1e300:
                continue
            try:
                got = float(fast(np.float64(x)))
            except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                got = float("nan")
            if not (np.isfinite(got) and abs(got - ref) <= 1e-13 * abs(ref)):
                if reach:
                    return len(points) - points.index(x)
                bad += 1
    return bad


# Next to u = 1 first: f'(1) is often 0 there, the critic's optimum when p = q, where training converges, and an
# expanded form (-2/sqrt(u) - 6 sqrt(u) + 2u + 6 for 2 (sqrt(u) - 1)^3/sqrt(u)) loses every digit. Then over the
# range a float32 or float64 slope can reach.
_NEAR_ONE = [1 + s * 2.0**-k for k in range(1, 53, 3) for s in (1, -1)]
# Away from 1 the points are not powers of 2: at u = 2^k, u/hypot(u, 1) rounds to 1 - 2^-(2k+1) exactly, and
# -u/(4 hypot(u, 1)) + 1/4 + 4/u, which loses every digit of its last two terms by u = 1e13, scored as exact
# (the density ratio was 4e-5 off at v = 30 in float64)
_OFF = 1.3
_EVERYWHERE = [_OFF * 2.0**k for k in range(-1000, 1001, 40)]  # as far as a float64 u reaches: f must not overflow first
_NEAR = {"lo": [2.0**-k / _OFF for k in range(0, 1001, 20)], "hi": [_OFF * 2.0**k for k in range(0, 1001, 20)]}


@_remembered
def _vanishing_logs(e: sp.Expr, var: sp.Symbol, at=sp.S.Zero, sign: int = 1) -> sp.Expr:
    """k log(X) (the logs of e combined, X a product of integer powers) -> k log1p(X - 1), X - 1 cancelled, where X
    tends to 1 at var = `at` (0 or oo): log(2) - log(2 - d) is -log1p(-d/2), 5/2 (log(u + 1) - log u) is
    5/2 log1p(1/u), accurate where the difference of two logs of nearly equal numbers is 0 in floating point.
    sign -1 writes the same with 1/X (-5/2 log1p(-1/(u + 1)) for the latter: the same value, accurate towards oo
    only)."""
    from .rules import log1p

    terms = sp.Add.make_args(sp.expand(sp.expand_log(e, force=True)))
    logs, rest = [], []
    for t in terms:
        k, f = t.as_independent(var, as_Add=False) if t.has(var) else t.as_coeff_Mul()
        if isinstance(f, sp.log):
            logs.append((k, f.args[0]))
        else:
            rest.append(t)
    if not any(a.has(var) for _, a in logs):
        return e
    k = min((c for c, _ in logs), key=lambda c: abs(c) if c.is_number else sp.oo) * sign
    ratios = [sp.nsimplify(c / k) for c, _ in logs]
    if not all(r.is_Integer for r in ratios):
        return e
    x = sp.cancel(sp.Mul(*[a**r for r, (_, a) in zip(ratios, logs)]))
    if sp.limit(x, var, at, "+" if at == 0 else "-") != 1:
        return e
    # X a g-th power taken as its root: u/3 log((u + 1)^3/u^3) is u log1p(1/u), where X - 1 = 3/u + 3/u^2 + 1/u^3
    # overflows below u = 1e-103 (f* was +inf at v = -1000 where it is -1.57)
    num, den = sp.fraction(x)
    try:
        (cn, top), (cd, bottom) = sp.factor_list(num, var), sp.factor_list(den, var)
    except sp.PolynomialError:  # X not rational in var
        top = bottom = []
    factors = top + [(b, -m) for b, m in bottom]
    g = sp.gcd_list([m for _, m in factors]) if factors else 1
    if factors and g > 1 and cn == cd:
        x, k = sp.Mul(*[b ** (m // g) for b, m in factors]), k * g
    return sp.Add(*rest) + k * log1p(sp.factor(sp.cancel(x - 1)))


@_remembered
def _vanishing_logs_grouped(e: sp.Expr, var: sp.Symbol, at=sp.S.Zero, sign: int = 1) -> sp.Expr:
    """_vanishing_logs for each group of log terms that share a factor in var: b u - f(u) for a weighted GAN f
    holds u (log(2u/3 + 1/3) - log u + log(3/2))/3, which is u log1p(1/(2u))/3 ~ 1/6, not the difference of two
    terms of 1e30 (it came out inf at u = 44 as a product of powers u^(-4u), and 1e9 off at u = 1e24 expanded)."""
    terms = sp.Add.make_args(sp.expand(sp.expand_log(e, force=True)))
    groups: dict = {}
    rest = []
    for t in terms:
        logs = [a for a in sp.Mul.make_args(t) if isinstance(a, sp.log)]
        cofactor = t / logs[0] if len(logs) == 1 else None
        factor = None if cofactor is None else cofactor.as_independent(var, as_Add=False)[1]
        if factor is None or factor == 1 or factor.has(sp.log):
            rest.append(t)
        else:
            groups.setdefault(factor, []).append(t)
    out, changed = sp.Add(*rest), False
    for factor, group in groups.items():
        inner = sp.expand(sp.Add(*group) / factor)
        combined = _vanishing_logs(inner, var, at, sign)
        changed = changed or combined != inner
        out += factor * combined
    return out if changed else e


@_remembered
def _logs_split_at_infinity(e: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """log P(var) -> log c + n log var + log1p((P - c var^n)/(c var^n)) for each polynomial P of degree n >= 1
    (leading coefficient c > 0), then expanded: the log var and constant terms of a gap that vanishes at oo
    cancel exactly, and what is left is log1p's of small arguments. Two weighted GAN terms beside e^(-u/2) hold
    -35/12 log u + 8/3 log(2u/3 + 1/3) + 1/4 log(u/2 + 1/2) + ..., whose coefficients no common factor turns
    into integers (_vanishing_logs), and which cancels to 1e-13 of its terms at v = 30."""
    from .rules import log1p

    def split(x):
        arg = x.args[0]
        if not (arg.is_polynomial(var) and arg.has(var)):
            return x
        poly = sp.Poly(arg, var)
        n, c = poly.degree(), poly.LC()
        if n < 1 or not c.is_positive:
            return x
        tail = sp.cancel((arg - c * var**n) / (c * var**n))
        return sp.log(c) + n * sp.log(var) + (log1p(tail) if tail != 0 else 0)

    expanded = sp.expand(sp.expand_log(sp.expand(e), force=True))
    out = sp.expand(expanded.replace(lambda x: isinstance(x, sp.log) and x.args[0].has(var), split))
    return sp.expand(sp.expand_log(out, force=True))


@_remembered
def _logs_split_at_zero(e: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """log A(var) -> log c + log1p((A - c)/c) for each log whose argument tends to c > 0 at var = 0, then expanded:
    the constants of a distance that vanishes at 0 cancel exactly, one log1p per factor. Combined into one log1p
    (_vanishing_logs), 5/2 (log(u + 3) + log(u + 1/2)) - a is 5/2 log1p(u (2u + 7)/3), whose product overflows
    float64 at u = 1e154: f* was -inf from v = 1800 for such an f, where 5/2 (log1p(u/3) + log1p(2u)) is exact."""
    from .rules import log1p

    def split(x):
        arg = x.args[0]
        try:
            c = sp.limit(arg, var, 0, "+")
        except (NotImplementedError, ValueError, TypeError):
            return x
        if not (c.is_finite and c.is_positive):
            return x
        tail = sp.cancel((arg - c) / c)
        return sp.log(c) + (log1p(tail) if tail != 0 else 0)

    expanded = sp.expand(sp.expand_log(sp.expand(e), force=True))
    out = sp.expand(expanded.replace(lambda x: isinstance(x, sp.log) and x.args[0].has(var), split))
    return sp.expand(sp.expand_log(out, force=True))


@_remembered
def _rational_part_cancelled(e: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """e's rational terms in var over one denominator, factored (their constants cancel exactly: 7/3 - 1/(u + 1)^2
    - 2/(u + 1) + ... is u (...)/(...)), the other terms as they are."""
    terms = sp.Add.make_args(sp.expand(e))
    rational = [t for t in terms if t.is_rational_function(var)]
    if len(rational) < 2:
        return e
    return sp.factor(sp.cancel(sp.Add(*rational))) + sp.Add(*[t for t in terms if t not in rational])


@_remembered
def _cancelling_pairs(e: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """Rational terms whose leading parts cancel at var = oo or 0 combined into one fraction each, the other terms
    as they are: in f'' = 24/u^4 + 1/(3 u^(5/3)) + 1/(8u) - 1/(8u + 24) the last two are 3/(8u (u + 3)). Apart, they
    cancel (the density ratio's slope 3e-5 off at v = 30), and summed left to right 1/(8u) absorbs 1/(3 u^(5/3))
    before -1/(8u + 24) takes it back (f'' = 0 at u = 5e64, an infinite slope); over one denominator with the rest
    they overflow."""
    terms = list(sp.Add.make_args(sp.expand(e)))
    rational = [t for t in terms if t.has(var) and t.is_rational_function(var)]
    if not 2 <= len(rational) <= 8:
        return e
    out, used = [t for t in terms if t not in rational], set()
    for i, a in enumerate(rational):
        if i in used:
            continue
        for j in range(i + 1, len(rational)):
            if j not in used and any(sp.limit(a / rational[j], var, at, "+") == -1 for at in (sp.oo, sp.S.Zero)):
                a = sp.factor(sp.cancel(a + rational[j]))
                used.add(j)
        out.append(a)
    return sp.Add(*out)


@_remembered
def _grouped_by_pole(e: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """e's rational terms with the same poles (the factors of their denominators) over one denominator each: 2 (u -
    1)^2/(u + 3)^3 - 4 (u - 1)/(u + 3)^2 + 2/(u + 3), each O(1/u), is 32/(u + 3)^3. The other terms as they are."""
    groups: dict[frozenset, list] = {}
    out = []
    for t in sp.Add.make_args(sp.expand(e)):
        if not (t.has(var) and t.is_rational_function(var)):
            out.append(t)
            continue
        _, den = sp.fraction(sp.together(t))
        poles = frozenset(p for p, _ in sp.factor_list(den, var)[1])
        groups.setdefault(poles, []).append(t)
    return sp.Add(*out, *(sp.factor(sp.cancel(sp.Add(*ts))) if len(ts) > 1 else ts[0] for ts in groups.values()))


@_remembered
def _vanishing_roots(e: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """k sqrt(A) + c -> (k^2 A - c^2)/(k sqrt(A) - c) (cancelled) for each such sum that tends to 0 at var = 0:
    sqrt(1 - d) - 1 is -d/(sqrt(1 - d) + 1), where the difference is 0 in floating point below d = 1e-16."""
    def parts(x):
        if not (x.is_Add and len(x.args) == 2):
            return None
        c, rest = x.as_coeff_Add()
        k, root = rest.as_coeff_Mul()
        if c == 0 or not (root.is_Pow and root.exp == sp.Rational(1, 2) and root.has(var)):
            return None
        return (k, root.base, c) if sp.limit(x, var, 0, "+") == 0 else None

    def repl(x):
        k, a, c = parts(x)
        return sp.cancel(k**2 * a - c**2) / (k * sp.sqrt(a) - c)

    return e.replace(lambda x: parts(x) is not None, repl)


@_remembered
def _vanishing_exps(e: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """Each exp(a var + b) as e^b (expm1(a var) + 1), expanded: the constants, which cancel at var = 0 for a
    distance to f'(0+), cancel exactly, and e^(u/2)/6 + e^((u - 1)/2)/4 - (1/6 + e^(-1/2)/4) becomes
    (1/6 + e^(-1/2)/4) expm1(u/2), accurate where the difference of exponentials is 0 in floating point (the table
    of exp(u/2) + affine missed float64 by 1e-7 next to u = 1e-11, and the module fell back to 64 Newton steps)."""
    from .rules import expm1

    def linear(x):
        if not isinstance(x, sp.exp):
            return False
        a, b = sp.Poly(x.args[0], var).all_coeffs() if x.args[0].is_polynomial(var) and \
            sp.degree(x.args[0], var) == 1 else (None, None)
        return a is not None and a.is_number and b.is_number

    def repl(x):
        a, b = sp.Poly(x.args[0], var).all_coeffs()
        return sp.exp(b) * (expm1(a * var) + 1)

    if not e.has(sp.exp):
        return e
    out = sp.expand(e.replace(linear, repl))
    return sp.collect(out, [x for x in out.atoms(sp.Function) if x.func == expm1], evaluate=True) \
        if out.has(var) else e


@_remembered
def _vanishing_powers(e: sp.Expr, var: sp.Symbol, fractional: bool = False) -> sp.Expr:
    """Each (a + b var)^p (a > 0, p not a positive integer) as a^p (expm1(p log1p(b var/a)) + 1), expanded: the
    constants, which cancel at var = 0 for a distance to an end of f''s range, cancel exactly, and 1/(3 (2 -
    d)^(4/3)) - 2^(2/3)/12 becomes 2^(2/3)/12 expm1(-4/3 log1p(-d/2)), accurate where the difference is a few
    ulps of its terms (u^(-1/3) beside Max(2 - u, 0): the table missed float64 by 1e-7, and the module fell back to
    64 Newton steps)."""
    from .rules import expm1, log1p

    def linear_power(x):
        if not (x.is_Pow and x.base.has(var) and x.exp.is_Rational and not (x.exp.is_Integer and x.exp > 0)):
            return False
        if fractional and x.exp.is_Integer:  # rational terms left to _rational_part_cancelled (see _simplest)
            return False
        if not x.base.is_polynomial(var) or sp.degree(x.base, var) != 1:
            return False
        b, a = sp.Poly(x.base, var).all_coeffs()
        return bool(a.is_number and b.is_number and a.is_positive)

    def repl(x):
        b, a = sp.Poly(x.base, var).all_coeffs()
        return a**x.exp * (expm1(x.exp * log1p(b * var / a)) + 1)

    # products expanded first, so that powers of one base meet: 3 (sqrt(d + 1/2) - 2)/sqrt(d + 1/2) is 3 - 6/sqrt(d +
    # 1/2); replaced factor by factor, 3 expm1(x) expm1(-x) + 3 expm1(x) + 3 expm1(-x) was a zero that cancelled to
    # 10 at d = 1e34 (f' - f'(1/2) of u log u + 3 (sqrt(u) - 2)^2: u* was 1e5 times too small at t = 80). Not
    # multinomially: (2 - d)^(4/3) would become (2 - d) (2 - d)^(1/3), multiplied out
    expanded = sp.expand(e, multinomial=False)
    out = sp.expand(expanded.replace(linear_power, repl))
    if out == expanded or not out.has(var):
        return e
    return sp.collect(out, [x for x in out.atoms(sp.Function) if x.func == expm1], evaluate=True)


def _plain(e: sp.Expr) -> sp.Expr:
    """e without the quotients _paired_ratios keeps whole: for differentiating, rewriting and mpmath."""
    return e.replace(ratio, lambda p, q: p / q).replace(hypot, lambda a, b: sp.sqrt(a**2 + b**2))


@_remembered
def _power_spread(e: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """Each term c A^n / m, A a sum and m a power of var, as c A^(n - 1) (A/m expanded): 2 (sqrt(u) - 1)^3/sqrt(u)
    as 2 (sqrt(u) - 1)^2 (1 - 1/sqrt(u)), which keeps the zero at u = 1 exact (expanded, 2u - 6 sqrt(u) + 6 -
    2/sqrt(u) cancels there) and does not overflow until its value does ((sqrt(u) - 1)^3 overflows float64 at u =
    1e205)."""
    out = []
    for term in sp.Add.make_args(e):
        factors = sp.Mul.make_args(term)
        powers = [f for f in factors if f.is_Pow and f.base.is_Add and f.base.has(var) and f.exp.is_Integer
                  and f.exp >= 2]
        monomial = [f for f in factors if f.is_Pow and f.base == var and f.exp.is_negative]
        if len(powers) != 1 or len(monomial) != 1:
            out.append(term)
            continue
        (a,), (m,) = powers, monomial
        rest = sp.Mul(*[f for f in factors if f is not a and f is not m])
        out.append(rest * a.base ** (a.exp - 1) * sp.expand(a.base * m))
    return sp.Add(*out)


@_remembered
def _grouped_by_root(e: sp.Expr, var: sp.Symbol, factored: bool = False) -> sp.Expr:
    """e's terms grouped by the radicands of their roots, each group simplified on its own, and the rational terms
    split into partial fractions: f'' of 3 sqrt(1 + u^2) + 2 (u - 1)^2/(u + 1) + 5/2 u log u is 3/sqrt(1 + u^2) -
    3u^2/(1 + u^2)^(3/2) + 4 (u - 1)^2/(u + 1)^3 - ... (inf/inf = NaN from u = 1e103, where 1/f'' is the density
    ratio's slope), grouped 3/(1 + u^2)^(3/2) + 16/(u + 1)^3 + 5/(2u). `factored`: the rational terms over one
    denominator, factored, instead: 3/(2u) - 3/(2(u + 1)) cancels as u grows (the density ratio's slope was 1e-3
    off at v = 30 beside 3/2 sqrt(1 + u^2)), 3/(2u(u + 1)) does not."""
    groups: dict = {}
    for term in sp.Add.make_args(sp.expand(e)):
        roots = tuple(sorted({p.base for p in term.atoms(sp.Pow) if p.has(var) and p.exp.is_Rational
                              and not p.exp.is_Integer}, key=sp.default_sort_key))
        key = roots if roots else ("rational",) if term.is_rational_function(var) else (term,)
        groups.setdefault(key, []).append(term)
    out = []
    for key, terms in groups.items():
        group = sp.Add(*terms)
        if key == ("rational",) and len(terms) > 1:
            out.append(sp.factor(sp.cancel(group)) if factored else sp.apart(sp.cancel(group), var))
        elif key[0] != "rational" and not key[0] in terms and len(terms) > 1:
            out.append(sp.factor(sp.simplify(group)))
        else:
            out.append(group)
    return sp.Add(*out)


@_remembered
def _hypot_roots(e: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """A^(k/2) for A = c (var + m)^2 + d (c, d > 0, k odd) -> c^(k/2) hypot(var + m, sqrt(d/c))^k: sqrt(1 + u^2)
    overflows float64 at u = 1.3e154 and (1 + u^2)^(3/2) at 1e103, where f and f* are still floats (f* was -inf at
    v = 1000 for 3 sqrt(1 + u^2) beside u log u); hypot never overflows before its value does."""
    def parts(x):
        if not (x.is_Pow and x.exp.is_Rational and x.exp.q == 2 and x.base.is_polynomial(var)):
            return None
        poly = sp.Poly(x.base, var)
        if poly.degree() != 2:
            return None
        c, b, a0 = poly.all_coeffs()
        m = b / (2 * c)
        d = sp.simplify(a0 - c * m**2)
        return (c, m, d) if c.is_positive and d.is_positive else None

    def repl(x):
        c, m, d = parts(x)
        return c**x.exp * hypot(var + m, sp.sqrt(d / c)) ** (2 * x.exp)

    return e.replace(lambda x: parts(x) is not None, repl)


@_remembered
def _paired_ratios(e: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """Each rational term of e as a product of quotients of its factors, paired highest degree first and kept
    whole: (u - 1)^2/(u + 1) is (u - 1) ((u - 1)/(u + 1)) and 4 u (u + 2)/(u + 1)^2 is 4 (u/(u + 1)) ((u + 2)/(u +
    1)). Over one denominator the numerator overflows float64 at u ~ 1e154, far inside the range where f and f* are
    floats (the table stopped there and f* came out finite where it is +inf); the quotients are O(1) at every u and
    as accurate next to their zeros as the quotient itself (expanded, u - 3 + 4/(u + 1) cancels next to u = 1)."""
    def paired(term: sp.Expr) -> sp.Expr:
        if not term.has(var) or not term.is_rational_function(var):
            return term
        num, den = sp.fraction(sp.factor(term))
        if not (num.has(var) and den.has(var)):
            return term
        (cn, fn), (cd, fd) = sp.factor_list(num, var), sp.factor_list(den, var)
        nums = sorted((p for p, k in fn for _ in range(k)), key=lambda p: (sp.degree(p, var), sp.default_sort_key(p)))
        dens = sorted((q for q, k in fd for _ in range(k)), key=lambda q: (sp.degree(q, var), sp.default_sort_key(q)))
        out = cn / cd
        while nums and dens:
            out *= ratio(nums.pop(), dens.pop())
        return out * sp.Mul(*nums) / sp.Mul(*dens)

    return sp.Add(*[paired(t) for t in sp.Add.make_args(e)])


def _has_radical(e: sp.Expr, var: sp.Symbol) -> bool:
    return any(p.has(var) and p.exp.is_Rational and not p.exp.is_Integer for p in e.atoms(sp.Pow))


def _log_of_power_of(e: sp.Expr, var: sp.Symbol) -> bool:
    """Whether e holds log(b^x) with x varying in var (simplify's log(((u + 1)^3 ...)^exp(u/2))): b^x overflows
    long before x log b does, and mpmath needs minutes for it at u = 2^1000 (a step over its limit failed gen)."""
    return any(p.is_Pow and p.exp.has(var) for a in e.atoms(sp.log) for p in sp.Mul.make_args(a.args[0]))


def _simplified(e: sp.Expr) -> sp.Expr:
    """sp.simplify with each log held as a symbol: simplify combines logs by asking whether their arguments are
    positive, which factors polynomials of any degree (b - f'(u) of (u - 1)^2/(4u + 2) + 3 GAN-family terms: log((u
    + 1)^147/u^147), past its 20 s, and gen failed). Logs are combined by the other candidates' own steps."""
    held = {a: sp.Dummy("log", real=True) for a in e.atoms(sp.log)}
    return sp.simplify(e.xreplace(held)).xreplace({v: k for k, v in held.items()})


def _simplest(e: sp.Expr, what: str, region: str | None = None, prefer=None, var: sp.Symbol = U,
              both: bool = False, extra: tuple = ()) -> sp.Expr:
    """Among equivalent forms (expanded, cancelled, simplified, logs expanded, radicals rationalised), the one
    evaluated most accurately in float64 where it is used (towards u = 0 or u = oo for a distance to an end of
    f''s range), then the shortest: a form is judged by how many sample points it evaluates badly in float64,
    not by its looks. With `prefer` (a predicate: float32-safe), the forms it accepts come first (over one
    denominator, -u log u + 2 u log(u + 1) overflows float32 at u = 1e37; expanded, f' does not)."""
    e, extra = _plain(e), tuple(_plain(x) for x in extra)
    forms = [e, *extra]
    simplified = functools.lru_cache(maxsize=4)(_simplified)  # two steps start from it; simplify runs once
    steps = [_expand, sp.cancel, simplified, lambda x: sp.expand(sp.expand_log(x, force=True)), _rationalised,
             lambda x: _apart(x, var), lambda x: _paired_ratios(x, var), lambda x: _power_spread(x, var),
             lambda x: _paired_ratios(_rational_part_cancelled(x, var), var), lambda x: _cancelling_pairs(x, var),
             # expanded first: u (e^(-u/2) e^(1/2)/6 + 128/(u + 3)^3) is one product, not a rational term to pair,
             # and (u + 3)^3 overflows at u = 6e102, where f''(u) u = 128/u^2 is 1e-205 (Newton's step, divided by
             # it, was inf, and the 64-step fallback cost 33-42x Jeffrey's time)
             lambda x: _paired_ratios(_expand(x), var),
             # simplified or grouped by pole first, so that the pairs are few enough to try: 1/(3u) - 1/(3u + 3)
             # beside 3/(2u^(3/2)) is 1/(3u (u + 1)), and apart it absorbed the root's term (a ratio's slope 1.8e-4
             # off at v = 30)
             lambda x: _cancelling_pairs(simplified(x), var), lambda x: _cancelling_pairs(_grouped_by_pole(x, var), var)]
    if _has_radical(e, var):  # sqrt(1 + u^2) as hypot(u, 1), rational terms split or paired beside it
        steps += [lambda x: _hypot_roots(x, var), lambda x: _hypot_roots(_expand(x), var),
                  lambda x: _hypot_roots(_apart(x, var), var),
                  lambda x: _hypot_roots(_paired_ratios(x, var), var),
                  lambda x: _hypot_roots(_grouped_by_root(x, var), var),
                  lambda x: _hypot_roots(_grouped_by_root(x, var, factored=True), var),
                  # the root's terms grouped and the rational ones paired: f'' of sqrt(1 + u^2)/4 beside a GAN term
                  # and (u - 1)^2/(u + 2) is 1/(4 (u^2 + 1)^(3/2)) + 1/(4u (u + 1)) + ..., where its root's terms
                  # -u^2/(4 (u^2 + 1)^(3/2)) + 1/(4 sqrt(u^2 + 1)) cancel (the ratio's slope 1.8e-5 off at v = 30)
                  lambda x: _hypot_roots(_cancelling_pairs(_grouped_by_root(x, var), var), var)]
    if region in _NEAR:
        steps.append(lambda x: _termwise(x, sp.oo if region == "hi" else sp.S.Zero, var))
    elif region is None and _has_radical(e, var) and sp.count_ops(e) <= 40:  # its limits take minutes on more
        # f'' of sqrt(1 + u^2) is 3/sqrt(1 + u^2) - 3u^2/(u^2 + 1)^(3/2), which cancels: grouped it is 3/(u^2 +
        # 1)^(3/2) (the density ratio's slope was 0.3 % off at v = 30)
        steps += [lambda x: _termwise(x, sp.oo, var), lambda x: _hypot_roots(_termwise(x, sp.oo, var), var)]
    if region == "lo":  # towards var = 0: differences that vanish there, written without the cancellation
        steps += [lambda x: _vanishing_powers(x, var), lambda x: _vanishing_powers(_expand(x), var),
                  # roots as expm1 of log1p, rational terms over one denominator and paired: 4/3 (u^(1/3) - 2^(-1/3))
                  # + 16 d (d + 5)/(25 (2d + 5)^2) for (u - 1)^2/(3u + 6) + u^(4/3) + 4|u - 1/2|. With the rational
                  # terms as expm1's too, their d^2 parts cancelled at large d: u* at t = 1e4 was 57 % off
                  lambda x: _paired_ratios(_rational_part_cancelled(_vanishing_powers(x, var, True), var), var),
                  lambda x: _vanishing_logs(_vanishing_powers(x, var), var),
                  lambda x: _vanishing_logs(_vanishing_powers(x, var), var, sign=-1),lambda x: _rational_part_cancelled(_logs_split_at_zero(x, var), var),lambda x: _vanishing_exps(x, var),
                  lambda x: _rational_part_cancelled(_vanishing_exps(x, var), var),
                  lambda x: _paired_ratios(_rational_part_cancelled(_vanishing_exps(x, var), var), var),
                  lambda x: _vanishing_logs(x, var), lambda x: _vanishing_logs(x, var, sign=-1),
                  lambda x: _vanishing_roots(x, var), lambda x: _vanishing_roots(_vanishing_logs(x, var), var),
                  lambda x: _vanishing_roots(_vanishing_logs(x, var, sign=-1), var),
                  lambda x: _rational_part_cancelled(_vanishing_logs(x, var), var),
                  lambda x: _rational_part_cancelled(_vanishing_logs(x, var, sign=-1), var),
                  lambda x: _paired_ratios(_rational_part_cancelled(_vanishing_logs(x, var), var), var),
                  lambda x: _paired_ratios(_rational_part_cancelled(_vanishing_logs(x, var, sign=-1), var), var)]
    if region == "hi":
        steps += [lambda x: _vanishing_logs_grouped(x, var, sp.oo), lambda x: _vanishing_logs_grouped(x, var, sp.oo, -1),
                  lambda x: _vanishing_logs(_vanishing_logs_grouped(x, var, sp.oo), var, sp.oo),
                  lambda x: _vanishing_logs(_vanishing_logs_grouped(x, var, sp.oo, -1), var, sp.oo, -1),
                  # a root's difference from its asymptote and a difference of logs in one f' (a GAN term beside
                  # sqrt(1 + u^2)): each written on its own (on up to 60 operations: their limits take seconds
                  # each on a rationalised f' of 200)
                  *([] if sp.count_ops(e) > 60 else [
                  lambda x: _vanishing_logs(_termwise(x, sp.oo, var), var, sp.oo),
                  lambda x: _vanishing_logs_grouped(_termwise(x, sp.oo, var), var, sp.oo),
                  lambda x: _termwise(_vanishing_logs_grouped(x, var, sp.oo), sp.oo, var),
                  lambda x: _termwise(_vanishing_logs_grouped(x, var, sp.oo, -1), sp.oo, var),
                  lambda x: _termwise(_vanishing_logs(x, var, sp.oo, -1), sp.oo, var),
                  lambda x: _termwise(_vanishing_logs(x, var, sp.oo), sp.oo, var),
                  # logs split at oo beside a root's difference from its asymptote: b - f'(u) for sqrt(1 + u^2)/2
                  # beside two weighted GAN terms kept 1/2 - u/(2 sqrt(1 + u^2)), and u* was 4e-4 off at v = 30
                  lambda x: _termwise(_logs_split_at_infinity(x, var), sp.oo, var)])]
        # logs grouped and the rational part cancelled: (u - 1)^2/(u + 1) beside a weighted GAN term, where b u
        # - f(u) is O(log u) and every other candidate cancels O(u) terms (7e-5 of f* in float64 at v = 30)
        steps += [lambda x: _rational_part_cancelled(_logs_split_at_infinity(x, var), var),
                  lambda x: _rational_part_cancelled(_vanishing_logs_grouped(x, var, sp.oo), var),
                  lambda x: _rational_part_cancelled(_vanishing_logs_grouped(x, var, sp.oo, -1), var),
                  lambda x: _paired_ratios(_rational_part_cancelled(_vanishing_logs_grouped(x, var, sp.oo), var), var)]
        steps += [lambda x: _vanishing_logs(x, var, sp.oo), lambda x: _vanishing_logs(x, var, sp.oo, -1),
                  lambda x: _rational_part_cancelled(_vanishing_logs(x, var, sp.oo), var),
                  lambda x: _rational_part_cancelled(_vanishing_logs(x, var, sp.oo, -1), var),
                  lambda x: _paired_ratios(_rational_part_cancelled(_vanishing_logs(x, var, sp.oo), var), var),
                  lambda x: _paired_ratios(_rational_part_cancelled(_vanishing_logs(x, var, sp.oo, -1), var), var)]
    for step in steps:
        ok, form = decide(what, step, e, seconds=5)
        if ok and isinstance(form, sp.Expr) and not form.has(sp.zoo, sp.nan, sp.I) and not _log_of_power_of(form, var):
            forms.append(form)
    regions = [(_NEAR[region], True)] if region in _NEAR else [(_NEAR_ONE, False), (_EVERYWHERE, False)]
    if region in _NEAR and both:  # a form that covers the whole piece: the other end next (outwards from 1)
        regions.append((_NEAR["hi" if region == "lo" else "lo"], True))
    scored = []
    reference = _reference(e, var)

    def score(form):
        counts = []
        for points, reach in regions:
            ok, bad = decide(what, lambda: _error(form, points, reach=reach, var=var, reference=reference),
                             seconds=10)
            counts.append(bad if ok else len(points) + 1)
        preferred = 0 if prefer is None or prefer(form) else 1
        # bad points summed over the regions: f next to u = 1 cancels in every form (f(1) = 0), and ranking that
        # region first chose log((u + 2)^(u + 2)/...), one point better there and overflowing from u = 150 on
        scored.append((preferred, sum(counts), *counts, sp.count_ops(form), len(str(form)), form))
        return not any(counts) and preferred == 0

    # the shortest first: the first form that is accurate everywhere it is scored (and preferred) is the choice
    for form in sorted(dict.fromkeys(forms), key=lambda x: (sp.count_ops(x), len(str(x)))):
        if score(form):
            return form
    # none is: the three best, their ratios paired and roots as hypot (one form that is accurate at u -> 0 and
    # overflows at u = 1e154, 3u/(2 sqrt(u^2 + 1)) + 16u (u + 6)/(9 (u + 3)^2) + log1p(u/2), is accurate at both
    # ends so: u* stopped at 1e154 where f* is +inf). Only here: scoring them for every expression costs gen time
    finishes = [lambda x: _paired_ratios(x, var)]
    if _has_radical(e, var):
        finishes.append(lambda x: _hypot_roots(_paired_ratios(x, var), var))
    if region == "lo":
        # an exponential's, a log's and a rational part's constants cancelling together at u = 0: f' - f'(0) of
        # 3 (u + 1/2) log(u + 1/2) + 2 e^u + 3/2 (u - 1)^2/(u + 3) is 2 expm1(u) + 3 log1p(2u) + 8u (u + 6)/(3 (u +
        # 3)^2), where each candidate fixed one or two of them (-2 + 2 e^u): no table converged at u = 1e-8, and
        # the 64-step fallback cost 44-76x Jeffrey's time
        finishes.append(lambda x: _rational_part_cancelled(_vanishing_logs(_vanishing_exps(x, var), var), var))
    for *_, form in sorted(scored, key=lambda x: x[:-1])[:3]:
        for finish in finishes:
            ok, new = decide(what, finish, form, seconds=5)
            if ok and isinstance(new, sp.Expr) and new not in forms and not new.has(sp.zoo, sp.nan, sp.I):
                forms.append(new)
                if score(new):
                    return new
    return min(scored, key=lambda x: x[:-1])[-1]


def _fn(backend, name: str) -> str:
    """The backend's spelling of a function the solver's templates call (torch.exp, jnp.exp, ...)."""
    if backend is None or backend.name == "torch":
        return f"torch.{name}"
    return "jax.nn.sigmoid" if name == "sigmoid" else f"jnp.{name}"


def _jax(backend) -> bool:
    return backend is not None and backend.name == "jax"


def _printed(e: sp.Expr, helpers: set[str], backend=None) -> str:
    printer = Printer(U, "u", backend=backend)
    text = printer.emit(apply_rules(e))
    helpers |= printer.helpers
    if printer.branches:
        raise DerivationError("a numeric branch cannot be lowered: its f is piecewise inside a smooth piece")
    return text


_X = sp.Symbol("x")
_Y = sp.Symbol("y")  # log u for u = e^y: the solver's own variable, exact and one logarithm fewer


def _log_u_as_y(e: sp.Expr) -> sp.Expr:
    return e.xreplace({sp.log(U): _Y})


def _printed_cse(e: sp.Expr, helpers: set[str], log_u_is_y: bool, names: dict | None = None, backend=None) -> str:
    """The body of a function of u and x returning e, common subexpressions bound once."""
    bindings, (out,) = sp.cse([apply_rules(_log_u_as_y(e) if log_u_is_y else e)], symbols=sp.numbered_symbols("w"))
    printer = Printer(U, "u", {_X: "x", _Y: "y", **(names or {}), **{sym: sym.name for sym, _ in bindings}}, backend)
    lines = [f"{sym.name} = {printer.emit(b)}" for sym, b in bindings] + [f"return {printer.emit(out)}"]
    helpers |= printer.helpers
    if printer.branches:
        raise DerivationError("a numeric branch cannot be lowered: its f is piecewise inside a smooth piece")
    return "\n    ".join(lines)


def _map(piece: NumericPiece) -> tuple[str, str]:
    """(kind, code computing `u, du` from y)."""
    if piece.hi == sp.oo:
        if piece.lo == 0:
            return "exp", "_exp_map(y)"
        return "shifted", f"_shifted_exp_map(y, {float(piece.lo)!r})"
    return "logistic", f"_logistic_map(y, {float(piece.lo)!r}, {float(piece.hi)!r})"


def _log_max(dtype) -> float:
    """The largest y of the dtype whose e^y is finite in it: log of its largest float, rounded down."""
    y = dtype(np.log(np.finfo(dtype).max))
    with np.errstate(over="ignore"):
        while not np.isfinite(np.exp(y)):
            y = np.nextafter(y, dtype(0))
    return float(y)


def _derivative(e: sp.Expr, var: sp.Symbol = U) -> sp.Expr:
    """de/dvar, taken on a real symbol without var's sign: with u > 0 SymPy asks the sign of every sum the product
    rule builds (polynomial roots, simplify), and f'' from a form of f' over sqrt(3 - u) (2/3 log(1 + u^2) + 5/2
    |u - 3|^(3/2) + 3 (u - 1)^2/(u + 3)) took 15 s of a 31 s gen; on a real symbol 0.1 s, the same expression."""
    w = sp.Dummy("w", real=True)
    return sp.diff(e.xreplace({var: w}), w).xreplace({w: var})


def _numpy(e: sp.Expr, var: sp.Symbol = U):
    """e as the generated code evaluates it (rules applied), a numpy function of var."""
    return numpy_function(e, var)


def _numpy_map(piece: NumericPiece):
    lo, hi = float(piece.lo), float(piece.hi)
    if piece.hi == sp.oo:
        return lambda y: (lo + np.exp(y), np.exp(y)) if piece.lo != 0 else (np.exp(y), np.exp(y))
    w = hi - lo

    def logistic(y):
        with np.errstate(over="ignore"):
            s = 1.0 / (1.0 + np.exp(-y))
            return np.where(y < 0, lo + w * s, hi - w / (1.0 + np.exp(y))), w * s / (1.0 + np.exp(y))
    return logistic


def _newton_source(name: str, mapping: str, form: str, value: sp.Expr, d2f: sp.Expr, helpers: set[str],
                   log_residual: bool = False, per_y: bool = False, distance: str | None = None,
                   two_sided: tuple | None = None, backend=None) -> str:
    """def name(y, tau): Newton's correction to y for G(u) = tau, u = map(y): G = f' (direct), log of the gap to
    an end of f''s range (lo), or minus that log (hi); G' = f'' or f''/gap. f' (or the gap) and f'' share their
    common subexpressions (one sqrt(u) for both)."""
    if per_y:  # u = e^y
        value, d2f = _log_u_as_y(value), _log_u_as_y(d2f)
    exprs = [apply_rules(value), apply_rules(d2f)] + ([apply_rules(e) for e in two_sided[1:]] if two_sided else [])
    bindings, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("w"))
    printer = Printer(U, "u", {_Y: "y", _D: "d", **{sym: sym.name for sym, _ in bindings}}, backend)
    lines = ([distance] if distance else []) + [f"{sym.name} = {printer.emit(e)}" for sym, e in bindings]
    g_text, d2_text = printer.emit(reduced[0]), printer.emit(reduced[1])
    if two_sided:  # the near half in d, the far half of the piece in u
        side = two_sided[0]
        where = _fn(backend, "where")
        g_text = f"{where}({side}, {g_text}, {printer.emit(reduced[2])})"
        if printer.emit(reduced[3]) != d2_text:  # f'' in u serves both halves where the form is in u (_far_half)
            d2_text = f"{where}({side}, {d2_text}, {printer.emit(reduced[3])})"
    # the slope in y: f''(u) du/dy (per_y: d2 is already f''(u) u, simplified, for u = e^y). For the slog residual
    # (1 + |s|)/f'' is formed before dividing by du: f'' du overflows float64 where both are finite (5/2 e^(2u):
    # f'' = 1.2e306, du = u = 351), the step was 0, and no table converged (the 64-step fallback, 80x Jeffrey's)
    per_du = "" if per_y else " / du"
    d2_slog = d2_text
    if not per_y:
        d2_text = f"({d2_text}) * du"
    helpers |= printer.helpers
    if printer.branches:
        raise DerivationError("a numeric branch cannot be lowered: its f is piecewise inside a smooth piece")
    if form == "direct" and log_residual:  # sign(s) log(1 + |s|), s = f'(u): near-linear in y for f' ~ e^u
        lines.append(f"s = {g_text}")
        delta = f"(torch.copysign(torch.log1p(s.abs()), s) - tau) * ((1.0 + s.abs()) / ({d2_slog})){per_du}" if \
            not _jax(backend) else \
            f"(jnp.copysign(jnp.log1p(jnp.abs(s)), s) - tau) * ((1.0 + jnp.abs(s)) / ({d2_slog})){per_du}"
    elif form == "direct":
        delta = f"({g_text} - tau) / ({d2_text})"
    else:
        sign = "" if form == "lo" else "-"
        lines.append(f"gap = {g_text}")
        delta = f"({sign}{_fn(backend, 'log')}(gap) - tau) * gap / ({d2_text})"
    body = "\n    ".join([f"u, du = {mapping}", *lines, f"return {delta}"])
    what = {"direct": "slog f'(u) = tau" if log_residual else "f'(u) = tau", "lo": "log(f'(u) - a) = tau", "hi": "-log(b - f'(u)) = tau"}[form]
    return f"def {name}(y, tau):\n    \"\"\"Newton's correction to y for {what}, u = map(y).\"\"\"\n    {body}"


def _float_list(values) -> str:
    """values as a Python list expression, each run of 8 or more equal values written [v] * n: a table clamped at
    an end of its range repeats that end for hundreds of knots (two such tables made 1/4 sqrt(1 + u^2) + |u - 1| +
    u/2 a 109 KB module, against the 100 KB bar). The same floats, so the same module behaviour."""
    texts = [repr(float(v)) for v in values]
    parts: list[str] = []
    chunk: list[str] = []
    i = 0
    while i < len(texts):
        j = i
        while j < len(texts) and texts[j] == texts[i]:
            j += 1
        if j - i >= 8:
            if chunk:
                parts.append(f"[{', '.join(chunk)}]")
                chunk = []
            parts.append(f"[{texts[i]}] * {j - i}")
        else:
            chunk += texts[i:j]
        i = j
    if chunk or not parts:
        parts.append(f"[{', '.join(chunk)}]")
    return " + ".join(parts)


def _solve_source(name: str, table: Table, kind: str, tau: str, delta: str, log_residual: bool) -> tuple[str, str]:
    """(constants, def name(x)): the root y of G(map(y)) = tau for the input x, in x's dtype."""
    k = len(table.knots) - 1
    upper = name.upper()
    # the knots in y and z; per knot interval (_table_columns) its ends in y (the bracket), its start in z and the
    # slope dy/dz, in each dtype
    consts = f"{upper}_KNOTS = torch.tensor({_float_list(table.knots)}, dtype=torch.float64)"
    consts += (f"\n{upper}_TABLES = {{dtype: tuple(t.to(dtype) for t in _table_columns({upper}_KNOTS, {table.xi0!r}, "
               f"{table.h!r}))\n    for dtype in (torch.float32, torch.float64)}}")
    if kind == "cusp":  # the cube root of tau - centre, then sign(z) log(1 + |z|)
        z = (f"tau - {table.centre!r}\n    z = z.abs().pow_(1.0 / 3.0).log1p_().copysign_(z)"
             if table.centre else "tau.abs().pow_(1.0 / 3.0).log1p_().copysign_(tau)")
    elif kind == "slog":
        z = "tau.abs().log1p_().copysign_(tau)"
    else:
        z = "tau"
    target = {"slog": "z", "cusp": "torch.copysign(torch.log1p(tau.abs()), tau)"}.get(kind) if log_residual else "tau"
    clamp = f"torch.clamp(z, {table.zs[0]!r}, {table.zs[-1]!r})" if kind == "identity" else "z"
    return consts, f'''def {name}(x, steps=None):
    """y with G(map(y)) = tau: the knot interval of the table that holds the root is a bracket (G increases), the
    interpolation in z the start, then Newton steps clamped to the bracket (fdiv.lower.table); `steps` (those of
    float32, for a float32 input solved in float64) in place of x's dtype's."""
    tau = {tau}
    z = {z}
    zc = {clamp}
    pos = zc / torch.add(1.0, zc.abs(), alpha={1.0 / T_COMPRESS!r})
    pos = pos.mul_({1.0 / table.h!r}).add_({-table.xi0 / table.h!r}).clamp_(0.0, {float(k - 1)!r})
    idx = pos.nan_to_num_(nan=0.0).int().reshape(-1)  # a NaN input gives a NaN result, not an index error
    lo, hi, z0, slope = (torch.index_select(t, 0, idx).view_as(x) for t in {upper}_TABLES[x.dtype])
    y = torch.addcmul(lo, z - z0, slope).clamp_(lo, hi)
    target = {target}
    for _ in range(steps or ({table.steps["float64"]} if x.dtype == torch.float64 else {table.steps["float32"]})):
        # a correction that is not finite (f' overflowed) is not taken; one that leaves the bracket stops at its end
        y = (y - {delta}(y, target).nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)).clamp_(lo, hi)
    return y'''


def _jax_piece_source(k: int, form: str, solver: list[str], solve_name: str, mapping: str, value: str, tail,
                      kind: str, piece: NumericPiece, float32_ok: bool, interval: str, doc: str, d_value: str,
                      d_ratio: str, exp_tail=None) -> list[str]:
    """The JAX functions of one form of a numeric piece: the solve (a fixed number of steps, every element, no
    mask: under jax.jit shapes are static) and a custom_vjp function (f*, u*) whose backward pass is the implicit
    function theorem (d f*/dt = u*, d u*/dt = 1/f''(u*)), as the torch module's autograd Function."""
    name = f"_piece{k}_{form}"
    lu = ", lu" if tail else ""
    wide = kind in ("exp", "shifted") and float32_ok
    return [
        "", "",
        *solver,
        "", "",
        f"def {name}_forward(x):",
        f'    """(f*, u*) at x, u* = map(y) the root."""',
        f"    y = {solve_name}(x)",
        *(_exp_tail_source(exp_tail, piece, kind, BACKEND_JAX) if exp_tail else []),
        *_clamp_source(piece, kind, BACKEND_JAX),
        *_mapped_source(mapping, value, piece, kind, form, BACKEND_JAX),
        f"    value = {value}",
        *(_tail_source(tail, kind, BACKEND_JAX) if tail else []),
        "    # NaN only where f*(t) overflows (t u - f(u) as inf - inf) or t is NaN: +inf, and NaN again where t is",
        "    # (the last term is 0 unless x is NaN; x = +-inf keeps its value)",
        "    nan = jnp.nan_to_num(x, nan=math.nan, posinf=0.0, neginf=0.0) * 0.0",
        "    value = jnp.nan_to_num(value, nan=math.inf, posinf=math.inf, neginf=-math.inf) + nan",
        f"    return value, u{lu}",
        "", "",
        f"def {name}_solved(x_in):",
        f'    """(f*, u*{lu}) on u in {interval}: {doc}, in the working dtype (x and the outputs)."""',
        "    x = x_in" if float32_ok else
        "    x = _wide(x_in)  # f's expressions overflow in float32 where u* is a float32 (see _float32_safe)",
        f"    value, u{lu} = {name}_forward(x)",
        *([f"    if x.dtype == jnp.float32 and jax.config.jax_enable_x64:",
           "        # roots beyond float32's range (u* at the top of it): solved again in float64 (without x64 they stay",
           "        # at the top of float32's range); every element is evaluated, the float64 pass only where needed",
           "        over = jnp.any(u >= 0.5 * jnp.finfo(jnp.float32).max)",
           "        x = x.astype(jnp.float64)",
           f"        outs = (value, u{lu})",
           f"        value, u{lu} = jax.lax.cond(over, {name}_forward, "
           "lambda x: tuple(o.astype(jnp.float64) for o in outs), x)"] if wide else []),
        f"    return x, value, u{lu}",
        "", "",
        "@jax.custom_vjp",
        f"def {name}_both(x_in):",
        f'    """(f*, u*) on u in {interval}. Solved in the input\'s dtype; the backward pass is the implicit function',
        '    theorem (d f*/dt = u*, d u*/dt = 1/f\'\'(u*)), not the iterations."""',
        f"    return {name}_both_fwd(x_in)[0]",
        "", "",
        f"def {name}_both_fwd(x_in):",
        f"    x, value, u{lu} = {name}_solved(x_in)",
        *(["    # u* beyond the dtype's range: the ratio is +inf there (u, clamped, still serves f*'s terms)",
           "    ratio = jnp.where(u >= _past_top(u), math.inf, u)"] if kind in ("exp", "shifted") else
          ["    ratio = u"]),
        f"    return (value.astype(x_in.dtype), ratio.astype(x_in.dtype)), (x, {'lu' if tail else 'u'})",
        "", "",
        f"def {name}_both_bwd(res, grads):",
        f"    x, {'lu' if tail else 'u'} = res",
        *(["    u = jnp.exp(lu)  # lu = log u* (see _tail_source)"] if tail else []),
        "    x_in_dtype = grads[0].dtype",
        "    gv, gr = (g.astype(x.dtype) for g in grads)",
        "    # each term only where its incoming gradient is non-zero: d u*/dt = 1/f''(u*) is infinite where f''",
        "    # vanishes (u* = 1 for (sqrt(u) - 1)^4, the optimum when P = Q); 0 * inf would be NaN",
        f"    grad = jnp.where(gv == 0, 0.0, gv * ({d_value}))",
        f"    ratio = jnp.where(gr == 0, 0.0, gr * ({d_ratio}))",
        *([f"    ratio = jnp.where((u < _past_top(u)) | (gr == 0), ratio, gr * {'-' if form == 'hi' else ''}math.inf)"
           "  # past the range: the slope too"] if kind in ("exp", "shifted") else []),
        "    return ((grad + ratio).astype(x_in_dtype),)",
        "", "",
        f"{name}_both.defvjp({name}_both_fwd, {name}_both_bwd)",
        "", "",
        f"def {name}(x):",
        f"    return {name}_both(x)[0]",
        "", "",
        f"def {name}_ratio(x):",
        f"    return {name}_both(x)[1]",
        "", "",
        f"def {name}_gap(d):",
        *([f"    return {name}(_log_gap(d))"] if float32_ok else
          ["    # solved in float64: the distance's log too (log d rounded to float32 moves d by 2^-24 log(d) d)",
           f"    return {name}(_log_gap(_wide(d))).astype(d.dtype)"]),
        "", "",
        f"def {name}_ratio_gap(d):",
        f"    return {name}_ratio(_log_gap(d))" if float32_ok else
        f"    return {name}_ratio(_log_gap(_wide(d))).astype(d.dtype)",
    ]


def _solve_source_jax(name: str, table: Table, kind: str, tau: str, delta: str, log_residual: bool) -> tuple[str, str]:
    """_solve_source for JAX: the same table, start and Newton steps, as pure functions (the table's columns are
    tuples, made arrays of the input's dtype inside the function, where jax.jit folds them into constants)."""
    k = len(table.knots) - 1
    upper = name.upper()
    columns = ("LO", "HI", "Z0", "SLOPE")
    knots = _float_list(table.knots)
    consts = f"{upper}_KNOTS = " + (f"({knots[1:-1]},)" if knots.startswith("[") and knots.endswith("]") and
                                    "] * " not in knots else f"tuple({knots})")
    consts += (f"\n{', '.join(f'{upper}_{key}' for key in columns)} = _table_columns({upper}_KNOTS, {table.xi0!r}, "
               f"{table.h!r})")
    if kind == "cusp":  # the cube root of tau - centre, then sign(z) log(1 + |z|)
        z = (f"tau - {table.centre!r}\n    z = jnp.copysign(jnp.log1p(jnp.abs(z) ** (1.0 / 3.0)), z)"
             if table.centre else "jnp.copysign(jnp.log1p(jnp.abs(tau) ** (1.0 / 3.0)), tau)")
    elif kind == "slog":
        z = "jnp.copysign(jnp.log1p(jnp.abs(tau)), tau)"
    else:
        z = "tau"
    target = {"slog": "z", "cusp": "jnp.copysign(jnp.log1p(jnp.abs(tau)), tau)"}.get(kind) if log_residual else "tau"
    clamp = f"jnp.clip(z, {table.zs[0]!r}, {table.zs[-1]!r})" if kind == "identity" else "z"
    columns_text = ", ".join(f"{upper}_{key}" for key in columns)
    return consts, f'''def {name}(x, steps=None):
    """y with G(map(y)) = tau: the knot interval of the table that holds the root is a bracket (G increases), the
    interpolation in z the start, then Newton steps clamped to the bracket (fdiv.lower.table); `steps` (those of
    float32, for a float32 input solved in float64) in place of x's dtype's."""
    tau = {tau}
    z = {z}
    zc = {clamp}
    pos = zc / (1.0 + jnp.abs(zc) * {1.0 / T_COMPRESS!r})
    pos = jnp.clip(pos * {1.0 / table.h!r} + {-table.xi0 / table.h!r}, 0.0, {float(k - 1)!r})
    idx = jnp.nan_to_num(pos, nan=0.0).astype(jnp.int32)  # a NaN input gives a NaN result, not an index error
    lo, hi, z0, slope = (jnp.asarray(t, dtype=x.dtype)[idx] for t in ({columns_text}))
    y = jnp.clip(lo + (z - z0) * slope, lo, hi)
    target = {target}
    for _ in range({table.steps["float64"]} if x.dtype == jnp.float64 else {table.steps["float32"]}):
        # a correction that is not finite (f' overflowed) is not taken; one that leaves the bracket stops at its end
        y = jnp.clip(y - jnp.nan_to_num({delta}(y, target), nan=0.0, posinf=0.0, neginf=0.0), lo, hi)
    return y'''


def _factored_powers(e: sp.Expr) -> sp.Expr:
    """The powers of sums in e's factored form (its zeros, kept exact: (sqrt(u) - 1)^2), times the rest expanded
    (u^(-3/2) (2 u^(3/2) + u) = 2 + 1/sqrt(u), which neither overflows nor underflows)."""
    factors = sp.Mul.make_args(sp.factor(e))
    zeros = [f for f in factors if f.is_Pow and f.base.is_Add and f.exp.is_positive]
    return sp.Mul(*zeros) * sp.expand(sp.Mul(*[f for f in factors if f not in zeros]))


def _newton_slope(d2f: sp.Expr, piece: NumericPiece, f: sp.Expr, df: sp.Expr) -> sp.Expr:
    """f''(u) u, the Newton slope in y for u = e^y, as one expression: the most accurate float32-safe form among
    those of the product, its factored and its expanded form (u^(3/2) in a denominator underflows at u = 1e-26)."""
    d2f = _plain(d2f)
    starts = [d2f * U]
    # partial fractions: 1/2 - 1/(u + 1) + 1/(2 u), where the factored (u^2 + 1)/(2 u (u + 1)) overflows
    for step in (sp.factor, _factored_powers, sp.expand, lambda x: sp.apart(sp.expand(x), U)):
        ok, form = decide("simplifying f''(u) u", step, d2f * U, seconds=5)
        if ok:
            starts.append(form)
    safe = lambda e: _float32_safe([e], piece, f, df, e)  # noqa: E731
    return _simplest(d2f * U, "simplifying f''(u) u", prefer=safe, extra=tuple(starts[1:]))


def _float32_safe(exprs: list[sp.Expr], piece: NumericPiece, f: sp.Expr, df: sp.Expr,
                  newton_slope: sp.Expr | None = None, form: str | None = None, far: tuple = ()) -> bool:
    """Whether the expressions evaluate in float32 within 1e-4 of float64 (relative, or absolute next to 0) at
    every u of the piece (a grid of log u from float32's smallest normal to its largest value, and of the distance
    to a finite end other than 0) where f'(u) and f*(f'(u)) = u f'(u) - f(u) are float32 numbers: where the result
    fits a float32, no intermediate may overflow ((sqrt(u) - 1)^3 does at u = 5e25, where f*(f'(u)) ~ u^2 already
    does, and is fine; sqrt(1 + u^2) at u = 2e19, inside the range, is not). Newton's slope may overflow where its
    value does not fit (the step is then 0 and the table's start stands, at |t| ~ 1e38). If one does, the piece is
    solved in float64 for float32 inputs too. An expression in the distance d to the piece's end is evaluated at
    float32 distances, on the half of a finite piece next to that end when `far` (its other half's expressions,
    in u) is given."""
    big = float(np.finfo(np.float32).max)
    tiny = float(np.finfo(np.float32).tiny)
    lo = max(float(piece.lo), tiny)
    hi = min(float(piece.hi), big)
    u_grid = np.exp(np.linspace(np.log(lo), np.log(hi), 2001)[1:-1])
    end = None if form is None else (float(piece.lo) if form == "lo" else float(piece.hi))
    if end is not None and end != 0 and np.isfinite(end):  # towards a finite end other than 0: its distance
        width = min(float(piece.hi - piece.lo), big)
        near = np.exp(np.linspace(np.log(tiny), np.log(width), 2001)[1:-1])
        u_grid = np.concatenate([u_grid, end + near if form == "lo" else end - near])
    u32 = u_grid.astype(np.float32)
    u64 = u32.astype(np.float64)
    with np.errstate(all="ignore"):
        d64 = np.abs(u_grid - end) if end is not None and np.isfinite(end) else u64
        slope = np.asarray(_numpy(df)(u64), dtype=np.float64) * np.ones_like(u64)
        fstar = u64 * slope - np.asarray(_numpy(f)(u64), dtype=np.float64)
    inside = (np.abs(slope) <= big) & (np.abs(fstar) <= big) & (u64 > float(piece.lo)) & (u64 < float(piece.hi))
    mid = float(_numpy_map(piece)(0.0)[0]) if far else None  # the halves meet at y = 0 (see _numpy_residual)
    near_half = (u64 > mid if form == "hi" else u64 < mid) if far else np.ones_like(u64, dtype=bool)
    for e, half in [(e, near_half) for e in exprs] + [(e, ~near_half) for e in far]:
        if _D in e.free_symbols:  # in the distance d to the piece's end: evaluated at float32 distances
            x32 = d64.astype(np.float32)
            x64, fn = x32.astype(np.float64), _numpy(e, _D)
        else:
            x32, x64, fn = u32, u64, _numpy(e)
        with np.errstate(all="ignore"):
            a = np.asarray(fn(x64), dtype=np.float64) * np.ones_like(u64)
            b = np.asarray(fn(x32), dtype=np.float64) * np.ones_like(u64)
        keep = inside & half & ((np.abs(a) <= big) if e is newton_slope else True)  # an infinite slope: a zero step
        a, b = a[keep], b[keep]
        with np.errstate(all="ignore"):  # inf - inf where a form overflows: a rejection, not a warning
            close = np.isfinite(b) & (np.abs(b - a) <= 1e-4 * np.maximum(np.abs(a), 1.0))
        if not np.all(close):
            return False
    return True


def _value_conditioned(rest: sp.Expr, piece: NumericPiece, f: sp.Expr, df: sp.Expr, s: sp.Expr, form: str) -> bool:
    """Whether f*(t) = (s u - f(u)) -+ |t - s| u, the form's value at the root, is a float32 number to within the
    campaign's and fdiv.testing's bar (1e-5 relative, 1e-6 absolute below 1) when formed in float32: its two terms
    are each rounded to about 2^-24 of their size, and where they are far larger than f* (t far from the end s, and s
    large: s = 4 e^6 for 2 e^(2u) + ... on (0, 3), f*(1) = 1.008 from terms of 4800) they cancel. Checked on a grid
    of log u over the part of the piece this form serves, away from f*'s zero (its series serves there); where it
    fails the piece is solved in float64 for float32 inputs."""
    big = float(np.finfo(np.float32).max)
    tiny = float(np.finfo(np.float32).tiny)
    lo, hi = max(float(piece.lo), tiny), min(float(piece.hi), big)
    u = np.exp(np.linspace(np.log(lo), np.log(hi), 2001)[1:-1])
    with np.errstate(all="ignore"):
        t = np.asarray(_numpy(df)(u), dtype=np.float64) * np.ones_like(u)
        fstar = u * t - np.asarray(_numpy(f)(u), dtype=np.float64)
        rest_u, cu = np.asarray(_numpy(rest)(u), dtype=np.float64) * np.ones_like(u), np.abs(t - float(s)) * u
        terms = np.abs(rest_u) + cu
        # where float64 has f* itself (its two forms agree): not where t - s or u t - f(u) cancel in float64 (next
        # to the end, where c u is far below the rest and nothing cancels anyway)
        other = rest_u + (cu if form == "lo" else -cu)
        reliable = np.abs(fstar - other) <= 1e-6 * np.maximum(np.abs(fstar), 1e-3)
    keep = np.isfinite(terms) & (terms <= big) & np.isfinite(fstar) & (u > float(piece.lo)) & (u < float(piece.hi))
    keep &= reliable
    keep &= piece.served(form, t)  # each form serves its part of the slope range
    zero = piece_zero(piece)
    if zero is not None:
        keep &= np.abs(t - float(zero.t0)) > zero.radius
    # the worst case is one rounding of each term, 2^-24 of their sum; a quarter of it (the roundings are
    # independent and rarely align) is what must stay within the bar
    error = 2.0 ** -26 * terms[keep]
    return bool(np.all(error <= np.maximum(1e-5 * np.abs(fstar[keep]), 1.2e-6)))


def _direct_value_conditioned(value: sp.Expr, piece: NumericPiece, df: sp.Expr, kind: str) -> bool:
    """Whether the direct form's f*(x) at the root, `value` (x u - f(u), or (u f'(u) - f(u)) + u (x - f'(u))) in
    u, x (and y = log u), is within the campaign's and fdiv.testing's bar (1e-5 relative, 1e-6 absolute below 1)
    when evaluated in float32: at u on a grid of log u, at the float32 input x = f'(u) and the float32 u, against
    f* at that x in float64. Where the terms of f' cancel (3.5 log u against 3 log((u + 1)/2), 185 against 156 at
    u = 9e22, where f' = 30), u (x - f'(u)) is u times their rounding: f*(30) was 2.4e-5 off in float32 for
    3 (u log u - (u + 1) log((u + 1)/2)) + ... Where it is not, the piece is solved in float64 for float32 inputs.
    Roots in the top half of float32's range are solved in float64 anyway (_past_top), and not judged here."""
    big = float(np.finfo(np.float32).max)
    tiny = float(np.finfo(np.float32).tiny)
    lo, hi = max(float(piece.lo), tiny), min(float(piece.hi), big)
    u = np.exp(np.linspace(np.log(lo), np.log(hi), 2001)[1:-1])
    fn = numpy_function(_log_u_as_y(value) if kind == "exp" else value, (U, _X, _Y))
    with np.errstate(all="ignore"):
        t = np.asarray(_numpy(df)(u), dtype=np.float64) * np.ones_like(u)
        fstar = np.asarray(fn(u, t, np.log(u)), dtype=np.float64) * np.ones_like(u)
        x32, u32 = t.astype(np.float32), u.astype(np.float32)
        ref = fstar + u * (x32.astype(np.float64) - t)  # f* at the float32 input, to first order in x32 - t
        got = np.asarray(fn(u32, x32, np.log(u32)), dtype=np.float64) * np.ones_like(u)
    keep = np.isfinite(ref) & (np.abs(ref) <= big) & (np.abs(t) <= big) & (u > float(piece.lo)) & (u < float(piece.hi))
    keep &= piece.served("direct", t) & ((u < 0.5 * big) if kind in ("exp", "shifted") else True)
    zero = piece_zero(piece)
    if zero is not None:  # its series serves there
        keep &= np.abs(t - float(zero.t0)) > zero.radius
    keep &= np.isfinite(got)  # an intermediate that overflows is _float32_safe's to judge; here, the rounding
    with np.errstate(all="ignore"):
        err = np.abs(got - ref)
    return bool(np.all(err[keep] <= np.maximum(1e-5 * np.abs(ref[keep]), 1.2e-6)))


@functools.lru_cache(maxsize=64)
def cusp_root(f: sp.Expr, lo: sp.Expr, hi: sp.Expr) -> tuple[float, float] | None:
    """(u0, f'(u0)) where f''(u0) = 0 inside (lo, hi) (see _cusp_point), u0 to float64's last bits: f'' ~ (u -
    u0)^2 there, so its minimum, which the golden section finds to ~1e-8, is the simple root of f''', refined at
    30 digits. The table's knot at the cusp is the root there: bisecting the flat f' (f' - f'(u0) ~ (u - u0)^3)
    put it 5e-6 off in y, the Newton steps from it converge only linearly, and no table converged for 5/2 (sqrt(u)
    - 3)^4 + 2 u (the 64-step fallback)."""
    import mpmath

    from ...derivation.numeric import mp_function

    piece = NumericPiece(0, f, lo, hi, sp.S.Zero, sp.S.Zero)
    raw = _derivative(f)
    d2f = _derivative(_plain(raw))
    u0 = _cusp_point(_numpy(raw), _numpy(d2f), piece)
    if u0 is None:
        return None
    d3f, df = mp_function(_derivative(d2f), U), mp_function(raw, U)
    with mpmath.workdps(30):
        try:
            root = mpmath.findroot(d3f, mpmath.mpf(u0))
            if isinstance(root, mpmath.mpf) and abs(root - u0) <= 1e-6 * u0 and lo < root and (hi == sp.oo or root < hi):
                u0 = root
        except (ValueError, ZeroDivisionError, TypeError):  # no root nearby: the golden section's u0
            pass
        t0 = df(mpmath.mpf(u0))
    return float(u0), float(t0)


def _map_inverse(piece: NumericPiece, u: float) -> float:
    """y with map(y) = u (_numpy_map)."""
    lo, hi = float(piece.lo), float(piece.hi)
    if piece.hi == sp.oo:
        return float(np.log(u - lo)) if piece.lo != 0 else float(np.log(u))
    return float(np.log((u - lo) / (hi - u)))


def _cusp(df, d2f, piece: NumericPiece) -> float | None:
    """f'(u0) where f''(u0) = 0 inside the piece (a convex f whose f'' touches 0: f' - f'(u0) ~ (u - u0)^3, and the
    inverse of f' has a cube-root cusp there); None if f'' stays away from 0."""
    u0 = _cusp_point(df, d2f, piece)
    return None if u0 is None else float(df(u0))


def _cusp_point(df, d2f, piece: NumericPiece) -> float | None:
    """u0 where f''(u0) = 0 inside the piece (see _cusp), found on a grid of log u and refined by golden section."""
    lo = float(piece.lo) if piece.lo.is_finite else 0.0
    hi = float(piece.hi) if piece.hi.is_finite else np.inf
    ys = np.linspace(-30.0, 30.0, 6001)
    u = np.exp(ys)
    u = u[(u > lo) & (u < hi)]
    if len(u) < 3:
        return None
    with np.errstate(all="ignore"):
        kappa = np.abs(d2f(u) * u / (1.0 + np.abs(df(u)) + np.abs(d2f(u) * u)))
    if not np.isfinite(kappa).any():
        return None
    j = int(np.nanargmin(kappa))
    if not 0 < j < len(u) - 1 or kappa[j] > 1e-3:
        return None
    a, b = np.log(u[j - 1]), np.log(u[j + 1])
    g = (np.sqrt(5.0) - 1.0) / 2.0
    for _ in range(100):
        c, d = b - g * (b - a), a + g * (b - a)
        with np.errstate(all="ignore"):
            fc, fd = abs(d2f(np.exp(c))), abs(d2f(np.exp(d)))
        a, b = (a, d) if fc < fd else (c, b)
    u0 = float(np.exp(0.5 * (a + b)))
    with np.errstate(all="ignore"):
        scale = 1.0 + abs(float(df(u0))) + abs(float(d2f(u0 * 1.5)) * u0)
        # a zero of f'' is a minimum of |f''| on both sides: an f'' that only decays towards u = oo (72/(u + 2)^3
        # beside a GAN-family term, 1e-14 at the grid's end e^30) had a "cusp" at e^30, and the cube-root index
        # around it left no table converging: the 64-step fallback, 76x Jeffrey's time
        d0 = abs(float(d2f(u0)))
        dip = abs(float(d2f(u0 * 1.5))) > d0 and abs(float(d2f(u0 / 1.5))) > d0
        return u0 if dip and d0 * u0 <= 1e-9 * scale else None


def _gap_cusp(raw: sp.Expr, piece: NumericPiece, form: str, tau_range: tuple[float, float]) -> float | None:
    """The cusp of an anchored form's G (log(f' - a) for "lo", -log(b - f') for "hi") where f''(u0) = 0 inside
    the piece and G(u0) lies in the form's range: there G' = f''/gap vanishes too, and an index in tau itself left
    Newton 0.08 off in y after 4 steps (1/2 (sqrt(u) - 1)^4 beside Max(u - 1/2, 0): the 64-step fallback)."""
    df, d2f = _numpy(raw), _numpy(_derivative(_plain(raw)))
    u0 = _cusp_point(df, d2f, piece)
    if u0 is None:
        return None
    s = piece.slope_lo if form == "lo" else piece.slope_hi
    with np.errstate(all="ignore"):
        gap = (float(df(u0)) - float(s)) * (1 if form == "lo" else -1)
        centre = float(np.log(gap)) * (1 if form == "lo" else -1) if gap > 0 else np.nan
    return centre if np.isfinite(centre) and tau_range[0] < centre < tau_range[1] else None


def _far_half(piece: NumericPiece, form: str, gap: sp.Expr, g: sp.Expr, var: sp.Symbol, what: str,
              d2: sp.Expr) -> tuple[sp.Expr, sp.Expr] | None:
    """(gap, d2) in u for the half of a piece (0 or lo, oo) away from the end its one form is anchored at (y > 0
    for "lo", y < 0 for "hi"), where g, the gap's form chosen for that end, is not accurate at the other end: no
    candidate was accurate at both, and the best one served end to end. Of 4 (sqrt(u) - 1)^4 + 3 (u log u - (u
    + 1) log(u + 1)) + ... on u > 1, 8 (e^w - 1)^3 (1 + expm1(-w)) cancels to 0 from u ~ e^72 on: log of the gap
    was flat there, every knot of the table above u = 2.45 was bisected to e^471.8, and f*(sigma_f(v)) was -inf
    from v = 3. None where g is accurate there too, or where the other end is not u -> 0 or oo."""
    other = "hi" if form == "lo" else "lo"
    if other == "lo" and piece.lo != 0:  # towards a finite end lo > 0: a distance, not u -> 0
        return None
    exact = _in_variable(gap, piece, form)
    points = _NEAR[other]
    ok, bad = decide(what, lambda: _error(g, points, reach=True, var=var, reference=_reference(exact, var)),
                     seconds=10)
    if ok and bad == 0:
        return None
    far = _simplest(gap, what, other)
    ok_far, bad_far = decide(what, lambda: _error(far, points, reach=True, reference=_reference(gap)), seconds=10)
    if not ok_far or (ok and bad_far >= bad):
        return None
    return far, d2


def _table_agrees(knots, G, form: str, near: tuple, far: tuple | None, fstar: tuple, d2f,
                  ends: tuple[float, float]) -> None:
    """Raises a DerivationError where the G a table was built on (as the generated code evaluates it: f', or the
    log of f''s distance to an end of its range) moves the root u* by more than 1e-8 of itself against G computed
    at high precision from f' itself (G's error times du*/dG = gap/(f''(u) u) relative, gap = 1 for f'), beyond
    G's own rounding, or is not finite where that is a float, wherever f*(f'(u)) = u f'(u) - f(u) is a float64
    number: at the table's knots, between them and on a grid spanning them (the range the table serves). A check
    for forms that fail, not for rounding (the forms are chosen at sample points to 1e-13, and the campaign judges
    the module to 1e-10): the table's own check compares its Newton steps with a bisection of the same G, so a
    form accurate at one end only, serving end to end, once put every knot above u = 2.45 at e^471.8 (G flat, then
    NaN), and f*(sigma_f(v)) was -inf from v = 3 (see _far_half). In u*, not in G: next to a finite end a distance
    d = 6e-13 whose gap is 1e-4 off moves u* = 1/2 - d by 1e-16, and one of 2e-16 whose gap is 0 by at most d.
    near: (the reference in the form's variable, y -> that variable, whether it is a distance to a finite end);
    far: (the reference in u, y -> u, the near half's condition) where the piece's other half is computed in u;
    fstar: (u f'(u) - f(u) in mpmath, y -> u); d2f: f''(u) in mpmath; ends: the piece's (lo, hi). Where no table
    was accepted (the 64-step fallback) nothing is checked here."""
    import mpmath

    ys = np.unique(np.asarray(knots, dtype=np.float64))
    ys = ys[np.isfinite(ys)]
    if len(ys) > 80:  # every knot of a large table is not needed to see a form that fails over a range
        ys = np.unique(np.r_[ys[:: len(ys) // 64], ys[-1]])
    if len(ys) == 0:
        return
    ys = np.r_[ys, 0.5 * (ys[1:] + ys[:-1]), np.linspace(ys[0], ys[-1], 33)]
    with np.errstate(all="ignore"):
        got = np.asarray(G(ys), dtype=np.float64) * np.ones_like(ys)
        halves = np.ones_like(ys, dtype=bool) if far is None else _near_half(far[2], ys)
    sign = -1 if form == "hi" else 1
    number = lambda x: x is not None and not isinstance(x, mpmath.mpc) and mpmath.isfinite(x)  # noqa: E731
    for y, g, in_near in zip(ys, got, halves):
        reference, argument = near[:2] if in_near else far[:2]
        with np.errstate(all="ignore"):
            x, u = float(argument(np.float64(y))), float(fstar[1](np.float64(y)))
        if not (np.isfinite(x) and abs(x) >= float(np.finfo(np.float64).tiny) and np.isfinite(u) and u > 0):
            continue
        value = fstar[0](u)  # where f* is past float64 (or not a number) the module's f* is +inf whatever G is
        if not number(value) or abs(value) > 1e300:
            continue
        ref = reference(x)
        if not number(ref) or not (abs(ref) <= 1e300 if form == "direct" else 1e-300 < ref < 1e300):
            continue
        want = float(ref) if form == "direct" else sign * float(mpmath.log(ref))
        if np.isfinite(g) and abs(g - want) <= 4 * np.finfo(np.float64).eps * (1.0 + abs(want)):
            continue  # G to its rounding: where f' is flat (a cusp) that rounding moves u* for every solver
        curvature = d2f(u)
        shift = (abs(g - want) * (1 if form == "direct" else float(ref)) / float(curvature * u)
                 if number(curvature) and curvature > 0 else math.inf)
        if not np.isfinite(g):  # a root solved where G is not finite lies between u and the end next to it, if any
            shift = (x if in_near and near[2] else min(u - ends[0], ends[1] - u)) / u
        # 1e-8 of u*, or 1e-15 absolute: the rule the modules are judged by allows 10 ulps of 1 next to 0 (a density
        # ratio of 1.7e-16 where it is 1e-44, at a table's floor next to u = 0)
        if not shift * u <= 1e-8 * u + 1e-15:
            what = "f'" if form == "direct" else "the log of the distance of f' to its end"
            raise DerivationError(f"no form of {what} found that is accurate over the range a numeric branch of f* "
                                  f"serves: at y = {float(y):.6g} ({x:.6g}) it is {float(g):.6g} in float64, not "
                                  f"{want:.6g}")


def _near_half(side: str, y: np.ndarray) -> np.ndarray:
    """The near half's condition (y > 0 or y < 0, as the generated code writes it) in numpy."""
    return y > 0 if side == "y > 0" else y < 0


def _flat_accurate(e: sp.Expr, u0: float, reference) -> bool:
    """Whether e (f') is within two ulps of its value next to a cusp u0, where f' is flat and its rounding, not
    the solver, decides the root: 2 (sqrt(u) - 1)^2 (1 - 1/sqrt(u)) - 1/2 is; expanded, 2u + 11/2 - 2 (3u + 1)/
    sqrt(u) is off by 2e-15 (its terms are 8), which moves the root of f'(u) = t by 2e-5 in log u."""
    import mpmath

    fast = _numpy(e)
    with np.errstate(all="ignore"):
        for x in [u0 * (1 + s * 2.0**-k) for k in range(3, 46, 3) for s in (1, -1)]:
            ref = reference(x)
            if ref is None or isinstance(ref, mpmath.mpc) or not mpmath.isfinite(ref):
                continue
            got = float(fast(np.float64(x)))
            if not (np.isfinite(got) and abs(got - ref) <= 2 * np.finfo(np.float64).eps * max(abs(float(ref)), 1e-300)):
                return False
    return True


def piece_source(piece: NumericPiece, helpers: set[str], backend=None) -> str:
    """The functions and autograd classes of one numeric piece (custom_vjp functions for JAX)."""
    jx = _jax(backend)
    k = piece.index
    raw = _derivative(piece.f)
    # f in a form that does not overflow before its value does ((u - 1)^2/(u + 2) as u - 4 + 9/(u + 2): the
    # numerator overflows at u ~ 1e154, where f* ~ 1e155 is still a float64)
    f = _simplest(piece.f, "simplifying f", prefer=lambda e: _float32_safe([e], piece, piece.f, raw))
    # next to a cusp (f'' = 0 at u0: (sqrt(u) - 1)^4 + affine) a form of f' accurate to its last bits there
    u0 = _cusp_point(_numpy(raw), _numpy(_derivative(_plain(raw))), piece) if "direct" in piece.forms else None
    flat = (lambda e: True) if u0 is None else (lambda e, r=_reference(raw): _flat_accurate(e, u0, r))
    df = _simplest(raw, "simplifying f'", prefer=lambda e: _float32_safe([e], piece, f, raw) and flat(e))
    # f'' from f' as derived, and from the form of f' chosen above: the derivative of a rationalised f' ((a^2 -
    # b^2)/(a - b) for 2 log u + 3 sqrt(u) - 3) is a long quotient that is NaN where u* underflows to 0
    d2f = _simplest(_derivative(_plain(raw)), "simplifying f''",
                    extra=(_derivative(_plain(df)),) if _plain(df) != _plain(raw) else ())
    kind, mapping = _map(piece)
    helpers |= {{"exp": "_exp_map", "shifted": "_shifted_exp_map", "logistic": "_logistic_map"}[kind],
                "_wide" if jx else "_solve_where"}
    if kind in ("exp", "shifted"):
        helpers |= {"_past_top"} if jx else {"_beyond_float32", "_past_top"}
    u_fill = float(piece.lo) + 1.0 if piece.hi == sp.oo else float(piece.lo + piece.hi) / 2  # a u inside the piece
    y_lo, y_hi = _Y_RANGE[kind]
    interval = f"({piece.lo}, {piece.hi})"
    np_map, np_d2f = _numpy_map(piece), _numpy(d2f)
    lines = [
        f"def _piece{k}_f(u):",
        f'    """f(u) on u in {interval}."""',
        f"    return {_printed(f, helpers, backend)}",
        "",
        "",
        f"def _piece{k}_d2f(u):",
        f'    """f\'\'(u) on u in {interval}."""',
        f"    return {_printed(d2f, helpers, backend)}",
    ]
    exp, log, where = (_fn(backend, n) for n in ("exp", "log", "where"))
    log_u = "y" if kind == "exp" else f"{log}(u)"
    # the Newton slope in y: f''(u) du/dy, for u = e^y simplified as one expression (2 + 2/u^3 overflows in
    # float32 where (2 + 2/u^3) u = 2 u + 2/u^2 does not)
    slope_y = _newton_slope(d2f, piece, f, df) if kind == "exp" else d2f
    float32_ok = _float32_safe([df, slope_y], piece, f, df, slope_y)
    # f*(t) = t u - f(u) at the root; where f itself overflows float32 (t u with it: u log u at u = 1e37) but f*
    # does not, f*(t) = (u f'(u) - f(u)) + u (t - f'(u)), u f' - f simplified (u/2 + log(2 sqrt(u)/(u + 1)) - 1/2):
    # algebraically the same, no overflow, no cancellation of t u against f(u), and still stationary in u (an
    # error in u* moves it to second order only)
    rest_value = None
    if "direct" in piece.forms and not _float32_safe([f], piece, f, df):
        safe = lambda e: _float32_safe([e], piece, f, df)  # noqa: E731
        rest = _simplest(U * df - piece.f, "simplifying u f'(u) - f(u)", prefer=safe)
        if safe(rest):
            rest_value = rest + U * (_X - df)
    if "direct" in piece.forms:  # f itself is evaluated only by the direct form's value
        float32_ok = float32_ok and (rest_value is not None or _float32_safe([f], piece, f, df))
        float32_ok = float32_ok and _direct_value_conditioned(_X * U - f if rest_value is None else rest_value,
                                                             piece, df, kind)
    np_u = lambda y: np_map(y)[0]  # noqa: E731
    # f* next to its zero, where t u* - f(u*) cancels (f*(0) = 0 for f normalised at its minimum u = 1): the
    # branch's value goes through _piece{k}_near (see branch_call)
    zs = piece_zero(piece)
    if zs is not None:
        helpers.add("_series_near")
        lines += ["", "", *zero_source(f"_piece{k}", zs)]
    for form in piece.forms:
        far = None  # (f' - s or s - f', f'') in u for the far half of a finite piece (see _two_sided)
        tail = None  # the asymptotics of the hi form where u* is past the dtype's range (_tail)
        exp_tail = None  # the hi form's root past its table where b - f'(u) decays like e^(-a u) (_exp_tail)
        if form == "direct":
            var, g, d2_near = U, df, d2f
            np_G_of = _numpy(df)
            index_kind, tau, tau_range = "slog", "x", (-_FLOAT64_MAX, _FLOAT64_MAX)
            if len(piece.forms) > 1:  # around a cusp, between anchored forms (see NumericPiece.reach)
                t_lo, t_hi = piece.reach(form)
                tau_range = (max(t_lo, -_FLOAT64_MAX), min(t_hi, _FLOAT64_MAX))
            value = f"x * u - _piece{k}_f(u)" if rest_value is None else f"_piece{k}_direct_value(x, u, y)"
            if rest_value is not None:
                lines += ["", "", f"def _piece{k}_direct_value(x, u, y):",
                          f'    """f*(x) = x u - f(u) at the root u of f\'(u) = x, as (u f\'(u) - f(u)) + u (x - f\'(u))."""',
                          f"    {_printed_cse(rest_value, helpers, kind == 'exp', backend=backend)}"]
            d_value, d_ratio = "u", f"1.0 / _piece{k}_d2f(u)"
            doc = "f'(u) = t; input t"
        else:
            s = piece.slope_lo if form == "lo" else piece.slope_hi
            sign = 1 if form == "lo" else -1
            var = _variable(piece, form)
            # the distance of f' to its end, written in the distance d of u to the piece's end where that end is
            # finite and not 0 (u - lo or hi - u: f'(2 - d) for |u - 2|^(3/2) is 3 sqrt(d)/2 exactly, where u - 2
            # rounds to 0), towards u = 0 or oo otherwise
            region = form if var is U else "lo"
            what_gap = "simplifying the distance of f' to the end of its range"
            whole = len(piece.forms) == 1 and kind != "logistic"  # the one form from end to end of the piece
            # from f' as derived: the chosen df may be a rationalised form of 200 operations, slow to rewrite
            g = _simplest(_in_variable(sign * (raw - s), piece, form), what_gap, region, var=var, both=whole)
            d2_near = d2f if var is U else _simplest(_in_variable(d2f, piece, form), "simplifying f''", region,
                                                     var=var, both=whole)
            if var is not U and len(piece.forms) == 1 and kind == "logistic":
                # one anchored form across the whole of a finite piece (0, hi): in d = hi - u it cancels towards
                # u = 0 (d rounds to hi), so that half is computed in u
                far = (_simplest(sign * (df - s), what_gap, "lo"), _simplest(d2f, "simplifying f''", "lo"))
            elif whole:
                far = _far_half(piece, form, sign * (raw - s), g, var, what_gap,
                                slope_y if kind == "exp" and var is U else d2f)
            rest = _simplest(s * U - piece.f, "simplifying s u - f(u)", form if var is U else None,
                             both=whole and var is U)
            if form == "hi" and piece.hi == sp.oo:  # in SymPy's own functions (limits, series), not the rules'
                tail = _tail(sign * (raw - s), s * U - piece.f)
                exp_tail = None if tail else _exp_tail(sign * (raw - s))
            float32_ok = float32_ok and _float32_safe([g, d2_near], piece, f, df, d2_near, form=form, far=far or ())
            rest_ok = _float32_safe([rest], piece, f, df)
            if not rest_ok and form == "lo" and far is None:
                # a u - f(u) overflows float32 where f* does not (u log u + (u - 2)^(3/2) at u = 5e25): f*(t) =
                # (u f'(u) - f(u)) + (c u - u gap(u)) at the root, gap = f'(u) - a = c there, u f' - f simplified
                safe = lambda e: _float32_safe([e], piece, f, df)  # noqa: E731
                tangent = _simplest(U * df - piece.f, "simplifying u f'(u) - f(u)", prefer=safe)
                # c u and u (f'(u) - a) too, which cancel in it: for u log u + ..., both are ~87 u at u = 1e38,
                # where f* ~ u is a float32, and f*(88.7) was +inf in float32 (solved in float64 instead)
                if safe(tangent) and safe(U * (df - s)):
                    rest_ok = True
                    lines += ["", "", f"def _piece{k}_lo_value(x, y):",
                              f'    """f*(x) at the root y, as (u f\'(u) - f(u)) + (c u - u (f\'(u) - a)), c = e^x."""',
                              f"    u, du = {mapping}",
                              *([f"    {_distance_source(piece, kind, form, backend)}"] if var is not U else []),
                              f"    {_printed_cse(_with_distance(tangent, piece, form) + sp.exp(_X + sp.log(U)) - U * g, helpers, kind == 'exp', {_D: 'd'}, backend)}"]
            float32_ok = float32_ok and rest_ok and (any(line.startswith(f"def _piece{k}_lo_value(") for line in lines)
                                                    or _value_conditioned(rest, piece, f, df, s, form))
            np_G_of = None
            index_kind = "identity"
            tau, tau_range = ("x", (_LOG_TINY, _LOG_MAX)) if form == "lo" else ("-x", (-_LOG_MAX, -_LOG_TINY))
            if len(piece.forms) == 2 and piece.cusp is None:
                # each form serves up to the middle of the slope range (branch_call's split): its table stops at
                # three quarters of it, short of the far end, where its inverse has a log singularity
                reach = float(np.log(0.75 * float(piece.slope_hi - piece.slope_lo)))
                tau_range = (tau_range[0], reach) if form == "lo" else (-reach, tau_range[1])
            elif len(piece.forms) > 1:  # next to a direct form around a cusp (see NumericPiece.reach)
                t_lo, t_hi = piece.reach(form)
                tau_range = ((tau_range[0], float(np.log(t_hi - float(s)))) if form == "lo" else
                             (-float(np.log(float(s) - t_lo)), tau_range[1]))
            if tail:
                # the forward pass replaces every root with log u* past the tail's start by the asymptote's
                # ((log A + tau)/p > start): the table serves up to there (and one unit of tau beyond). Out to
                # tau = 709 it had to solve where f''(u) du underflows float64 (2/3 sqrt(1 + u^2): f'' ~ u^-3 is 0
                # past u = e^236), so no Newton step was taken, no table was accepted, and the 64-step fallback
                # cost 27x Jeffrey's time for what the asymptote computes anyway
                cap = float(tail[0] * tail[3] - tail[1]) + 1.0
                if tau_range[0] < cap < tau_range[1]:
                    tau_range = (tau_range[0], cap)
            what = f"f'(u) - ({s})" if form == "lo" else f"{s} - f'(u)"
            # u - lo (hi - u) in the rest as the distance d the map gives exactly: sqrt(Max(u - 3, 0)) at u = 3 +
            # 1.8e-5 in float32 was 0.1 % off, f* 9e-5 (3 Max(u - 3, 0)^(3/2) beside u^(-1/3))
            rest_d = _with_distance(rest, piece, form) if var is not U else rest
            needs_d = rest_d.has(_D)
            lines += ["", "", f"def _piece{k}_{form}_rest(u, d):" if needs_d else f"def _piece{k}_{form}_rest(u):",
                      f'    """{s} u - f(u), without cancellation{" (d = " + ("u - lo" if form == "lo" else "hi - u") + ")" if needs_d else ""}."""',
                      f"    {_printed_cse(rest_d, helpers, False, {_D: 'd'}, backend)}" if needs_d else
                      f"    return {_printed(rest, helpers, backend)}"]
            rest_args = "u, d" if needs_d else "u"
            if form == "lo":
                doc = f"{what} = c, solved as log({what}) = log c; input log c"
                value = f"_piece{k}_lo_rest({rest_args}) + {exp}(x + {log_u})"
                if any(line.startswith(f"def _piece{k}_lo_value(") for line in lines):
                    value = f"_piece{k}_lo_value(x, y)"
                d_value, d_ratio = f"{exp}(x + {log}(u))", f"{exp}(x) / _piece{k}_d2f(u)"
            else:
                doc = f"{what} = c, solved as -log({what}) = -log c; input log c"
                value = f"_piece{k}_hi_rest({rest_args}) - {exp}(x + {log_u})"
                d_value, d_ratio = f"-{exp}(x + {log}(u))", f"-{exp}(x) / _piece{k}_d2f(u)"
                if tail:  # there d u*/d log c = -u/p (u = (A/c)^(1/p)), where c / f''(u) is 0/0 in floating point
                    d_value = f"-{exp}(x + lu)"
                    asymptotic = f"lu > {min(tail[3], 708.0)!r}"
                    if _jax(backend):  # float32 without jax_enable_x64: f''(u), a ratio of powers of u, can overflow
                        # where u* is still a float32 (u^7 from u = 3e5); where c / f''(u) is then not finite, the
                        # asymptote takes over
                        asymptotic = f"({asymptotic}) | ~jnp.isfinite({d_ratio})"
                    d_ratio = f"{where}({asymptotic}, u * {-1 / float(tail[0])!r}, {d_ratio})"
                if exp_tail:  # there d u*/d log c = -1/a, where c / f''(u) is 0/0 in floating point
                    d_ratio = f"{where}(x < {-exp_tail[2]!r}, {-1 / float(exp_tail[0])!r}, {d_ratio})"
        step_name, solve_name = f"_piece{k}_{form}_delta", f"_piece{k}_{form}_solve"
        centre = _cusp(np_G_of, np_d2f, piece) if form == "direct" else _gap_cusp(raw, piece, form, tau_range)
        centre_y = None
        if centre is not None:
            index_kind = "cusp"
            cusp = cusp_root(piece.f, piece.lo, piece.hi)
            centre_y = None if cusp is None else _map_inverse(piece, cusp[0])
        np_arg = _numpy_argument(piece, kind, form)
        side = "y > 0" if form == "hi" else "y < 0"  # the half of a finite piece next to the form's end
        np_gap, np_d2, np_normal = _numpy_residual(var, g, d2_near, far, np_arg, np_u, form)
        if kind == "exp" and var is U:
            # the runtime's step divides by f''(u) u as one expression (slope_y); the table is judged by the same
            # step: f''(u) times du = u, as _numpy_step would form it, is NaN past u ~ 1e205 for (sqrt(u) - 1)^4 +
            # affine ((sqrt(u) - 1)^3 overflows), where slope_y is finite, and no table was ever accepted; and for
            # an anchored form, f'' = 2/(3u^3) + ... of (u - 1)^2/(3u) + ... overflows below u = 1e-103, where f''
            # u does not (the steps were not taken there, and the 64-step fallback cost 35-116x Jeffrey's time)
            np_slope_y = _numpy(slope_y)
            np_d2_u = np_d2  # f''(u) for the slog residual (below)
            np_d2 = lambda y, s=np_slope_y: s(np_u(y))  # noqa: E731 - the slope in y itself (per_y below)
        if form == "direct":
            np_G = lambda y, G=np_G_of: G(np_u(y))  # noqa: E731
        else:
            np_G = (lambda y, gap=np_gap: np.log(gap(y))) if form == "lo" else (lambda y, gap=np_gap: -np.log(gap(y)))
        # Newton on f' itself (cheapest), else on its signed log (f' growing like e^u), else the robust iteration
        for log_residual in ((False, True) if form == "direct" else (False,)):
            # the slog residual divides (1 + |s|) by f''(u) and then by du: f''(u) u as one expression overflows
            # where f' grows like e^(2u) and both are finite (see _newton_source)
            per_y = kind == "exp" and var is U and not log_residual
            slog_in_u = log_residual and kind == "exp" and var is U
            np_step = _numpy_step(np_G, np_d2_u if slog_in_u else np_d2, np_map, form, np_gap, log_residual,
                                  per_y=per_y)
            ok, table = decide("tabulating the inverse of f'", build, np_G, lambda y, n=np_normal: (n(y),), np_step,
                                index_kind, tau_range, (y_lo, y_hi), centre or 0.0, centre_y, seconds=60)
            if ok:
                break
        if ok:  # the table's G against f' itself at high precision, where the table serves (see _table_agrees)
            exact = sign * (raw - s) if form != "direct" else raw
            _table_agrees(table.knots, np_G, form,
                          (_reference(_in_variable(exact, piece, form), var), np_arg, var is not U),
                          None if far is None else (_reference(exact), np_u, side),
                          (_reference(U * raw - piece.f), np_u), _reference(_derivative(_plain(raw))),
                          (float(piece.lo), float(piece.hi)))
        cls = f"_Piece{k}{form.capitalize()}"
        keep_y = False  # the backward pass takes log u again rather than holding y: one tensor less at the peak
        distance = _distance_source(piece, kind, form, backend) if var is not U else None
        two_sided = (side, *far) if far else None
        if ok:
            helpers.add("_table_columns")
            consts, solve = (_solve_source_jax if jx else _solve_source)(solve_name, table, index_kind, tau, step_name,
                                                                         log_residual)
            solver = [consts, "", "", _newton_source(step_name, mapping, form, g, slope_y if per_y else d2_near, helpers,
                                                       log_residual, per_y=per_y, distance=distance,
                                                       two_sided=two_sided, backend=backend),
                      "", "", solve]
        else:
            solver = [_robust_source(solve_name, mapping, form, g, d2_near, tau, (y_lo, y_hi), helpers,
                                     distance=distance, two_sided=two_sided, backend=backend)]
        if jx:
            lines += _jax_piece_source(k, form, solver, solve_name, mapping, value, tail, kind, piece, float32_ok,
                                       interval, doc, d_value, d_ratio, exp_tail)
            continue
        lines += [
            "", "",
            *solver,
            "", "",
            f"def _piece{k}_{form}_forward(x, steps=None):" if ok else f"def _piece{k}_{form}_forward(x):",
            f'    """(f*, u*, y) at x, u* = map(y) the root."""',
            f"    y = {solve_name}(x, steps)" if ok else f"    y = {solve_name}(x)",
            *(_exp_tail_source(exp_tail, piece, kind) if exp_tail else []),
            *_clamp_source(piece, kind),
            *_mapped_source(mapping, value, piece, kind, form, backend),
            f"    value = {value}",
            *(_tail_source(tail, kind) if tail else []),
            "    # NaN only where f*(t) overflows (t u - f(u) as inf - inf) or t is NaN: +inf, and NaN again where t is",
            "    # (the last term is 0 unless x is NaN; x = +-inf keeps its value)",
            "    nan = torch.nan_to_num(x, nan=math.nan, posinf=0.0, neginf=0.0).mul_(0.0)",
            "    value = value.nan_to_num_(nan=math.inf, posinf=math.inf, neginf=-math.inf).add_(nan)",
            f"    return value, u{', lu' if tail else ''}",
            "", "",
            f"class {cls}(torch.autograd.Function):",
            f'    """(f*, u*) on u in {interval}: {doc}. Solved in the input\'s dtype; the backward pass is the',
            '    implicit function theorem (d f*/dt = u*, d u*/dt = 1/f\'\'(u*)), not the iterations."""',
            "",
            "    @staticmethod",
            "    def forward(ctx, x_in, mask=None, gap=False):",
            "        ctx.set_materialize_grads(False)  # an output nobody differentiates (the ratio) costs nothing",
            "        # gap: x_in is the distance d > 0 of t to the piece's end, and x = log d is taken here: the slope in x,",
            "        # u* d, overflows float32 where u* does not, so the slope in d is formed in float64 (backward)",
            "        # (a subnormal d is a distance too: its log is finite, and clamping it to the smallest normal moved f*)",
            f"        ctx.gap, dc = gap, torch.clamp(x_in, min={_SMALLEST_SUBNORMAL}[x_in.dtype]) if gap else None",
            *(["        x_in = torch.log(dc) if gap else x_in",
                "        x = x_in if x_in.dtype in (torch.float32, torch.float64) else x_in.float()"] if float32_ok else
              ["        # solved in float64 (see _float32_safe, _value_conditioned), the distance's log too: log d rounded",
               "        # to float32 moves d by 2^-24 log(d) d, f* by that times u* (4e-4 at d = 1584)",
               "        x = torch.log(dc.double()) if gap else x_in.double()"]),
            "        # where the branch is not taken: f* = 0 at a u inside the piece (finite backward terms)",
            *([f"        value, u{', lu' if tail else ''} = _solve_where(_piece{k}_{form}_forward, x, mask, "
               f"(0.0, {u_fill!r}{f', {float(np.log(u_fill))!r}' if tail else ''}))"] if float32_ok or not ok else
              ["        # a float32 input solved in float64 needs float32's resolution only: its Newton steps (the table",
               "        # chose them running this algorithm in float64 against float32's tolerance)",
               f"        steps = {table.steps['float32']} if x_in.dtype == torch.float32 else None",
               f"        value, u{', lu' if tail else ''} = _solve_where(lambda x: _piece{k}_{form}_forward(x, steps), x, "
               f"mask, (0.0, {u_fill!r}{f', {float(np.log(u_fill))!r}' if tail else ''}))"]),
            *(["        # roots beyond float32's range (u* at the top of it): those elements again in float64",
               f"        x, value, u{', lu' if tail else ''} = _beyond_float32(_piece{k}_{form}_forward, x, "
               f"(value, u{', lu' if tail else ''}))"]
              if kind in ("exp", "shifted") and float32_ok else []),
            f"        ctx.save_for_backward(x, {'lu' if tail else 'u'}{', y' if keep_y else ''}, *([dc] if gap else []))",
            *(["        # u* beyond the dtype's range: the ratio is +inf there (u, clamped, still serves f*'s terms)",
               "        ratio = torch.where(u >= _past_top(u), math.inf, u)"]
              if kind in ("exp", "shifted") else ["        ratio = u"]),
            "        return value.to(x_in.dtype), ratio.to(x_in.dtype)",
            "",
            "    @staticmethod",
            "    @once_differentiable",
            "    def backward(ctx, grad_value, grad_ratio):",
            "        saved = [a.double() for a in ctx.saved_tensors] if ctx.gap else ctx.saved_tensors",
            f"        x, {'lu' if tail else 'u'}{', y' if keep_y else ''} = saved[:{3 if keep_y else 2}]",
            # lu = log u* for both maps (see _tail_source): e^lu + lo took u* lo too far, 1/f'' and the ratio's
            # slope with it (3 % at v = 5 for a GAN-family f beside Max(1/2 - u, 0))
            *(["        u = torch.exp(lu)"] if tail else []),
            "        x_in_dtype = grad_value.dtype if grad_value is not None else grad_ratio.dtype",
            "        gv = None if grad_value is None else grad_value.to(x.dtype)",
            "        gr = None if grad_ratio is None else grad_ratio.to(x.dtype)",
            "        # the ratio's term only where its incoming gradient is non-zero: d u*/dt = 1/f''(u*) is infinite",
            "        # where f'' vanishes (u* = 1 for (sqrt(u) - 1)^4, the optimum when P = Q); 0 * inf would be NaN",
            f"        grad = None if gv is None else gv * ({d_value})",
            *(["        if gv is not None:  # d f*/dt = u* past the dtype's range: +inf, not the clamped u",
               "            grad = torch.where((u < _past_top(u)) | (gv == 0), grad, gv * math.inf)"]
              if form == "direct" and kind in ("exp", "shifted") else []),
            f"        if gr is not None:",
            f"            ratio = torch.where(gr == 0, torch.zeros_like(gr), gr * ({d_ratio}))",
            *([f"            ratio = torch.where((u < _past_top(u)) | (gr == 0), ratio, "
               f"gr * {'-' if form == 'hi' else ''}math.inf)  # past the range: the slope too"]
              if kind in ("exp", "shifted") else []),
            f"            grad = ratio if grad is None else grad + ratio",
            "        grad = grad / saved[-1] if grad is not None and ctx.gap else grad  # d x/d d = 1/d",
            "        return None if grad is None else grad.to(x_in_dtype), None, None",
            "", "",
            f"def _piece{k}_{form}(x, mask=None):",
            f"    return {cls}.apply(x, mask)[0]",
            "", "",
            f"def _piece{k}_{form}_ratio(x, mask=None):",
            f"    return {cls}.apply(x, mask)[1]",
            "", "",
            f"def _piece{k}_{form}_gap(d, mask=None):",
            '    """f* at log c = log d, d > 0 the distance of t to the end (see forward)."""',
            f"    return {cls}.apply(d, mask, True)[0]",
            "", "",
            f"def _piece{k}_{form}_ratio_gap(d, mask=None):",
            f"    return {cls}.apply(d, mask, True)[1]",
        ]
    return "\n".join(lines)


_W = sp.Symbol("w", positive=True)


def _tail(gap: sp.Expr, rest: sp.Expr):
    """(p, log A, R) for a hi form on (lo, oo) whose f* grows without bound at b = f'(oo): b - f'(u) = A u^-p (1 +
    o(1)) and b u - f(u) = R(log u) + o(1) as u -> oo, R from the series at u = oo (the 5/2-weighted GAN f: p = 1,
    A = 5/2, R(y) = 5/2 y + 5/2). Past the dtype's range of u, where those o(1) are below e^-700, the root is then
    y = (log A - log c)/p and f* = R(y) - c e^y: the values of f* there (5/2 log(1/c) ~ 2500 at c = e^-1000) need no
    u at all. None where the asymptotics are not of that form, or f*(b) is finite (u* = oo at b, f* its limit)."""
    import mpmath

    from ...derivation.numeric import mp_function

    def find():
        p = -sp.limit(sp.log(gap) / sp.log(U), U, sp.oo)
        if not (p.is_Rational and p > 0):
            return None
        a = sp.limit(gap * U**p, U, sp.oo)
        if not (a.is_finite and a.is_positive):
            return None
        series = sp.series(rest.subs(U, 1 / _W), _W, 0, 1).removeO()
        r = sp.expand(sp.expand_log(sp.powsimp(sp.powdenest(series.subs(_W, sp.exp(-_Y)), force=True)), force=True))
        if r.has(_W, sp.Order) or r.free_symbols - {_Y}:
            return None
        return p, a, r

    ok, found = decide("the asymptotics of b - f'(u) and b u - f(u) at u = oo", find)
    if not ok or found is None:
        return None
    p, a, r = found
    gap_fn, rest_fn, r_fn = mp_function(gap, U), mp_function(rest, U), mp_function(r, _Y)

    def close(k: int) -> bool:
        """Whether at u = 10^k the asymptotic forms agree with the exact ones to 1e-18 (with the digits that b u -
        f(u) loses to cancellation carried)."""
        with mpmath.workdps(60 + 2 * k):
            u = mpmath.mpf(10) ** k
            return abs(mpmath.log(gap_fn(u)) - (mpmath.log(to_mp(a)) - to_mp(p) * mpmath.log(u))) <= \
                mpmath.mpf(10) ** -18 and abs(rest_fn(u) - r_fn(mpmath.log(u))) <= mpmath.mpf(10) ** -18 * (1 + abs(rest_fn(u)))

    # from where on (u = 10^k) the asymptotic forms are exact to float64, checked out to 10^300
    start = next((k for k in (20, 40, 80, 150) if all(close(j) for j in (k, 2 * k, 300) if j <= 300)), None)
    if start is None:
        return None
    return p, sp.log(a), r, float(start * np.log(10.0))


#: log c below which a hi form's root comes from its exponential asymptote (_exp_tail): its table reaches
#: log c = -744 (the smallest float64), and the gap e^(-a u) is subnormal from -708 on, where its log loses digits
_EXP_TAIL_START = 700.0


def _exp_tail(gap: sp.Expr):
    """(a, log A, tau0) for a hi form on (lo, oo) whose gap b - f'(u) = A e^(-a u) (1 + o(1)) as u -> oo, with the
    o(1) below float64's resolution from tau0 = -log c = 700 on: there the root of -log(b - f'(u)) = tau is u* =
    (tau + log A)/a. Past the table's end (log c = -744), where the gap underflows, the root is still a float
    (u* = 4000 at log c = -2000 for 2 e^(-u/2) + 2 e^(-u) + u: f'(oo) = 1 is approached exponentially, and the
    density ratio was stuck at 1490, its slope NaN). None where the gap decays otherwise."""
    import mpmath

    from ...derivation.numeric import mp_function

    def find():
        a = sp.limit(-sp.log(gap) / U, U, sp.oo)
        if not (a.is_finite and a.is_positive):
            return None
        big_a = sp.limit(gap * sp.exp(a * U), U, sp.oo)
        if not (big_a.is_finite and big_a.is_positive):
            return None
        return a, big_a

    ok, found = decide("the exponential asymptotics of b - f'(u) at u = oo", find)
    if not ok or found is None:
        return None
    a, big_a = found
    gap_fn = mp_function(gap, U)
    with mpmath.workdps(40):  # log A at 40 digits too: at 15, log(1/3) alone was 9e-17 off the bar
        a_mp, log_a_mp = to_mp(a), mpmath.log(to_mp(big_a))
        for tau in (_EXP_TAIL_START, 2 * _EXP_TAIL_START, 1e6):  # the asymptote's root against the gap's own
            u = (tau + log_a_mp) / a_mp
            if not u > 0 or abs(-mpmath.log(gap_fn(u)) - tau) > mpmath.mpf(10) ** -20 * tau:
                return None
    return a, sp.log(big_a), _EXP_TAIL_START


def _exp_tail_source(exp_tail, piece: NumericPiece, kind: str, backend=None) -> list[str]:
    """The forward pass's line that replaces the table's root by the exponential asymptote's past its start."""
    a, log_a, start = exp_tail
    u_text = f"({constant(log_a)!r} - x) * {constant(1 / a)!r}" if log_a != 0 else f"-x * {constant(1 / a)!r}"
    if kind == "shifted":
        u_text = f"{u_text} - {float(piece.lo)!r}"
    comment = f"    # past log c = -{start:g}, b - f'(u) = A e^(-a u) to float64's precision: the root is (log A - log c)/a"
    if _jax(backend):  # every element evaluated (static shapes under jax.jit)
        return [comment, f"    y = jnp.where(x < {-start!r}, jnp.log(jnp.maximum({u_text}, 1.0)), y)"]
    return [comment,
            f"    if getattr(torch.compiler, 'is_compiling', lambda: False)() or bool((x < {-start!r}).any()):",
            f"        y = torch.where(x < {-start!r}, torch.log(torch.clamp({u_text}, min=1.0)), y)"]


def to_mp(e):
    import mpmath

    return mpmath.mpf(sp.N(e, 60))


def _tail_source(tail, kind: str, backend=None) -> list[str]:
    """Lines of a hi form's forward pass for inputs whose root lies past the dtype's range of u (see _tail)."""
    p, log_a, r, start = tail
    printer = Printer(_Y, "y_tail", backend=backend)
    r_text = printer.emit(apply_rules(r))
    if _jax(backend):  # every element evaluated (static shapes under jax.jit)
        return [
            f"    # from u = e^{start:.1f} on, b - f'(u) = A u^-p and b u - f(u) = R(log u) to float64's precision: "
            "there the root's",
            f"    # log u is (log A - log c)/p and f* = R(log u) - c u, with no u (p = {p}, R(y) = {r})",
            "    lu = y" if kind == "exp" else "    lu = jnp.log(u)",
            f"    y_tail = ({constant(log_a)!r} - x) * {constant(1 / p)!r}",
            f"    tail = y_tail > {min(start, 708.0)!r}",
            f"    value = jnp.where(tail, {r_text} - jnp.exp(x + y_tail), value)",
            "    lu = jnp.where(tail, y_tail, lu)",
            "    u = jnp.where(tail, jnp.exp(y_tail), u)",
        ]
    return [
        f"    # from u = e^{start:.1f} on, b - f'(u) = A u^-p and b u - f(u) = R(log u) to float64's precision: there the",
        f"    # root's log u is (log A - log c)/p and f* = R(log u) - c u, with no u (p = {p}, R(y) = {r}), which may lie",
        "    # past the dtype's range where f* does not",
        "    lu = y" if kind == "exp" else "    lu = torch.log(u)",  # log u* (the backward pass takes e^lu)
        f"    y_tail = ({constant(log_a)!r} - x) * {constant(1 / p)!r}",
        f"    tail = y_tail > {min(start, 708.0)!r}",
        "    if getattr(torch.compiler, 'is_compiling', lambda: False)() or bool(tail.any()):",
        f"        value = torch.where(tail, {r_text} - torch.exp(x + y_tail), value)",
        "        lu = torch.where(tail, y_tail, lu)",
        "        u = torch.where(tail, torch.exp(y_tail), u)",
    ]


def constant(e) -> float:
    from .printer import constant_value

    return constant_value(sp.sympify(e))


def _clamp_source(piece: NumericPiece, kind: str, backend=None) -> list[str]:
    """Lines clamping the root y so that u* stays a normal, finite number of the dtype: where the piece reaches
    u = 0 (e^y, or hi sigmoid(y) on (0, hi)), f(0) = 0 * log 0 would be NaN where f*(t) -> -f(0+) is finite; where
    it reaches u = oo, inf - inf (the upper end is the largest y whose e^y is finite in the dtype)."""
    lower = upper = None
    if kind == "exp" or (kind == "logistic" and piece.lo == 0):
        shift = "" if kind == "exp" else f" - {float(np.log(float(piece.hi)))!r}"
        lower = f"math.log(torch.finfo(x.dtype).tiny){shift}"
    if kind in ("exp", "shifted"):
        upper = f"{_log_max(np.float32)!r} if x.dtype == torch.float32 else {_log_max(np.float64)!r}"
    if lower is None and upper is None:
        return []
    if _jax(backend):
        if lower:  # log(tiny) rounds below itself in float32, and XLA on the CPU flushes the subnormal e^y to 0
            lower = lower.replace("tiny)", "tiny) + 1e-4", 1)
        return ["    # u* beyond the dtype's normal range (a table end) stays finite and non-zero (normal: XLA flushes",
                "    # subnormals to 0)",
                f"    y = jnp.clip(y, {(lower or 'None').replace('torch.', 'jnp.')}, "
                f"{(upper or 'None').replace('torch.', 'jnp.')})"]
    return ["    # u* beyond the dtype's normal range (a table end) stays finite and non-zero",
            f"    y = torch.clamp(y, {lower or 'None'}, {upper or 'None'})" if lower and upper else
            f"    y = torch.clamp(y, min={lower})" if lower else f"    y = torch.clamp(y, max={upper})"]


def _robust_source(name: str, mapping: str, form: str, value: sp.Expr, d2f: sp.Expr, tau: str,
                   y_range: tuple[float, float], helpers: set[str], distance: str | None = None,
                   two_sided: tuple | None = None, backend=None) -> str:
    """def name(x) where no table reaches float64 resolution within 4 Newton steps (f' growing like e^(e^y),
    say): a 64-step bracketed Newton iteration (runtime._bracketed_newton) in float64, on asinh(f'(u)) or the log
    of the gap to an end of f''s range."""
    helpers.add("_bracketed_newton")
    exprs = [apply_rules(value), apply_rules(d2f)] + ([apply_rules(e) for e in two_sided[1:]] if two_sided else [])
    bindings, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("w"))
    printer = Printer(U, "u", {_D: "d", **{sym: sym.name for sym, _ in bindings}}, backend)
    g_text, d2_text = printer.emit(reduced[0]), printer.emit(reduced[1])
    if two_sided:
        g_text = f"{_fn(backend, 'where')}({two_sided[0]}, {g_text}, {printer.emit(reduced[2])})"
        if printer.emit(reduced[3]) != d2_text:
            d2_text = f"{_fn(backend, 'where')}({two_sided[0]}, {d2_text}, {printer.emit(reduced[3])})"
    body = ([distance] if distance else []) + [f"{sym.name} = {printer.emit(e)}" for sym, e in bindings] + \
        [f"s = {g_text}"]
    helpers |= printer.helpers
    if form == "direct":
        asinh, hypot, ones = (_fn(backend, n) for n in ("asinh", "hypot", "ones_like"))
        ret, target = f"{asinh}(s), ({d2_text}) / {hypot}({ones}(s), s) * du", f"{asinh}(tau)"
    else:
        ret, target = f"{'' if form == 'lo' else '-'}{_fn(backend, 'log')}(s), ({d2_text}) / s * du", "tau"
    inner = "\n        ".join([f"u, du = {mapping}", *body, f"return {ret}"])
    if _jax(backend):
        return f'''def {name}(x):
    """y with G(map(y)) = tau: no table reached float64 resolution within 4 Newton steps for this f, so a 64-step
    bracketed Newton iteration in float64 where JAX has it (rtsafe: Newton inside the bracket, bisection
    otherwise)."""
    def g(y):
        {inner}

    tau = _wide({tau})
    return _bracketed_newton({target}, g, {y_range[0]!r}, {y_range[1]!r}).astype(x.dtype)'''
    return f'''def {name}(x):
    """y with G(map(y)) = tau: no table reached float64 resolution within 4 Newton steps for this f, so a 64-step
    bracketed Newton iteration in float64 (rtsafe: Newton inside the bracket, bisection otherwise)."""
    def g(y):
        {inner}

    tau = ({tau}).double()
    return _bracketed_newton({target}, g, {y_range[0]!r}, {y_range[1]!r}).to(x.dtype)'''


_FLOAT64_MAX = float(np.finfo(np.float64).max)
_SMALLEST_SUBNORMAL = "{torch.float32: 2.0 ** -149, torch.float64: 2.0 ** -1074}"  # written as powers: no literal below normal
_LOG_MAX = float(np.log(np.finfo(np.float64).max))
_LOG_TINY = float(np.log(np.finfo(np.float64).smallest_subnormal))


def _numpy_residual(var, g, d2, far, argument, u_of_y, form: str):
    """(gap(y), f''(y), normal(y)) in numpy float64, as the generated code computes them: in the form's variable
    (argument(y)), or on a finite piece's far half in u (far); normal(y) is the variable that must be a normal
    float for a root to count."""
    gap_near, d2_near = _numpy(g, var), _numpy(d2, var)
    if far is None:
        return (lambda y: gap_near(argument(y))), (lambda y: d2_near(argument(y))), argument
    gap_far, d2_far = _numpy(far[0]), _numpy(far[1])
    near = (lambda y: y > 0) if form == "hi" else (lambda y: y < 0)

    def pick(a, b):
        def fn(y):
            with np.errstate(all="ignore"):
                return np.where(near(y), a(argument(y)), b(u_of_y(y)))
        return fn
    return pick(gap_near, gap_far), pick(d2_near, d2_far), lambda y: np.where(near(y), argument(y), u_of_y(y))


def _numpy_step(G, d2f, mapping, form: str, gap, log_residual: bool = False, per_y: bool = False):
    """Newton's correction in numpy, as the generated _delta function computes it (G, d2f and gap take y; with
    per_y, d2f(y) is the slope in y itself, f''(u) u as one expression, and is not multiplied by du)."""
    def step(y, tau):
        with np.errstate(all="ignore"):
            _, du = mapping(y)
            slope = d2f(y) if per_y else d2f(y) * du
            if form == "direct" and not log_residual:
                return (G(y) - tau) / slope
            if form == "direct":  # as _newton_source: (1 + |s|)/f'' before the division by du
                g = G(y)
                ratio = (1.0 + np.abs(g)) / slope if per_y else (1.0 + np.abs(g)) / d2f(y) / du
                return (np.copysign(np.log1p(np.abs(g)), g) - np.copysign(np.log1p(np.abs(tau)), tau)) * ratio
            return (G(y) - tau) * gap(y) / slope
    return step


_D = sp.Symbol("d", positive=True)  # the distance u - lo or hi - u of u to a finite end of its piece (not 0, oo)


def _variable(piece: NumericPiece, form: str) -> sp.Symbol:
    """The variable an anchored form's residual is written in: the distance to the piece's end it is anchored at,
    where that end is finite and not 0 (u itself is that distance at 0, and grows towards oo)."""
    if form == "lo" and piece.lo != 0:
        return _D
    if form == "hi" and piece.hi != sp.oo:
        return _D
    return U


def _in_variable(e: sp.Expr, piece: NumericPiece, form: str) -> sp.Expr:
    var = _variable(piece, form)
    if var is U:
        return e
    return e.xreplace({U: piece.lo + _D}) if form == "lo" else e.xreplace({U: piece.hi - _D})


def _with_distance(e: sp.Expr, piece: NumericPiece, form: str) -> sp.Expr:
    """e with u - lo (form lo) or hi - u (form hi) written as the distance d."""
    if _variable(piece, form) is U:
        return e
    return e.subs(U - piece.lo, _D) if form == "lo" else e.subs(piece.hi - U, _D)


def _mapped_source(mapping: str, value: str, piece: NumericPiece, kind: str, form: str, backend=None) -> list[str]:
    """The lines computing u (and d, where the value reads it) from y in a piece's forward function."""
    if "_rest(u, d)" not in value:
        return [f"    u, _ = {mapping}"]
    return [f"    u, du = {mapping}", f"    {_distance_source(piece, kind, form, backend)}"]


def _distance_source(piece: NumericPiece, kind: str, form: str, backend=None) -> str:
    """The line computing d (the distance to the piece's end) from y, after `u, du = map(y)`: e^y itself on
    (lo, oo), (hi - lo) sigmoid(+-y) on (lo, hi), never a difference of u and the end."""
    if kind == "shifted":
        return "d = du"
    return f"d = {_fn(backend, 'sigmoid')}({'y' if form == 'lo' else '-y'}) * {float(piece.hi - piece.lo)!r}"


def _numpy_argument(piece: NumericPiece, kind: str, form: str):
    """y -> the form's variable in numpy float64 (u, or the distance d as _distance_source computes it)."""
    mapping = _numpy_map(piece)
    if form == "direct" or _variable(piece, form) is U:
        return lambda y: mapping(y)[0]
    if kind == "shifted":
        return np.exp
    w = float(piece.hi - piece.lo)
    sign = 1.0 if form == "lo" else -1.0
    def distance(y):
        with np.errstate(over="ignore"):
            return w / (1.0 + np.exp(-sign * y))
    return distance


def branch_call(piece: NumericPiece, t: sp.Expr, log_c: dict[str, sp.Expr], *, ratio: bool = False,
                split: sp.Expr | None = None, var: sp.Symbol = T) -> sp.Expr:
    """The call that evaluates the piece at t: the anchored form where the piece has one (log c given per
    form), both split at `split` (in var) when it has two."""
    forms = piece.forms
    # f*'s value next to its zero from its series in t - t0 (lower.zero): t itself, not the distance c (b - t
    # rounds to ulps of b), in the activation's stable form (log(e^v + 1) overflows, and its slope 0 * inf is NaN
    # at every v past 88 although the series is not used there)
    near = (lambda e: e) if ratio or piece_zero(piece) is None else \
        (lambda e: sp.Function(f"_piece{piece.index}_near")(e, apply_rules(t)))
    if forms == ("direct",):
        return near(piece.call("direct", t, ratio))

    def call(form: str) -> sp.Expr:
        if form == "direct":  # around a cusp: t itself
            return piece.call(form, t, ratio)
        c = piece.call(form, log_c[form], ratio)
        return sp.Function("wide_gap")(c) if wide_distance(piece, form) else c

    if len(forms) == 1:
        return near(call(forms[0]))
    splits = split if isinstance(split, tuple) else (split,)
    return sp.Piecewise(*[(near(call(form)), var < cut) for form, cut in zip(forms, splits)],
                        (near(call(forms[-1])), True))


@functools.lru_cache(maxsize=64)
def wide_distance(piece: NumericPiece, form: str) -> bool:
    """Whether t's distance c to the form's end s, rounded to float32 (half an ulp of |s| where |t| << |s|), moves
    f* = t u* - f(u*) by more than the bar (1e-5 relative, 1.2e-6 absolute below 1) somewhere on the part of the
    piece the form serves, away from f*'s zero (its series takes t itself): then c is formed in float64."""
    if form == "direct" or (form == "lo" and piece.lo == 0) or (form == "hi" and piece.hi == sp.oo):
        # f'(0+) and f'(oo) end the critic range: composed with sigma_f its distance is formed without rounding the
        # end (lower.compose's log distances), and f*(t)'s own rounding of an end of dom f* is its conditioning
        return False
    s = float(piece.slope_lo if form == "lo" else piece.slope_hi)
    big = float(np.finfo(np.float32).max)
    lo, hi = max(float(piece.lo), float(np.finfo(np.float32).tiny)), min(float(piece.hi), big)
    u = np.exp(np.linspace(np.log(lo), np.log(hi), 2001)[1:-1])
    with np.errstate(all="ignore"):
        t = np.asarray(_numpy(_derivative(piece.f))(u), dtype=np.float64) * np.ones_like(u)
        fstar = u * t - np.asarray(_numpy(piece.f)(u), dtype=np.float64)
    keep = np.isfinite(t) & np.isfinite(fstar) & (np.abs(fstar) <= big) & piece.served(form, t)
    zero = piece_zero(piece)
    if zero is not None:
        keep &= np.abs(t - float(zero.t0)) > zero.radius
    # where |t| >= |s| the rounding of t - s is t's own (the conditioning of the input, not of the end); below, c
    # = s - t in float32 carries s's own rounding (a fixed shift of the kink: 0 for s = 5/2) and half an ulp of c
    # (none where t is within a factor 2 of s, Sterbenz)
    keep &= np.abs(t) < abs(s)
    c = np.abs(t - s)
    shift = abs(float(np.float32(s)) - s)
    moved = (shift + np.where((np.abs(t) >= abs(s) / 2) & (t * s > 0), 0.0, 2.0 ** -25 * c)) * u
    moved = moved[keep]
    return not bool(np.all(moved <= np.maximum(1e-5 * np.abs(fstar[keep]), 1.2e-6)))


@functools.lru_cache(maxsize=64)
def piece_zero(piece: NumericPiece) -> ZeroSeries | None:
    """The series of f* at its zero on the piece (lower.zero), or None."""
    ok, zs = decide("the series of f* at its zero", zero_series, piece.f, piece.lo, piece.hi, piece.slope_lo,
                    piece.slope_hi, seconds=5)
    return zs if ok else None
