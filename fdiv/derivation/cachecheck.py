"""The checks a derivation read from the cache (or the shipped seed) passes before it is used.

An entry is found by its key, but its contents are whatever the file holds: a corrupted or edited entry parses
as well as a true one. So every field that reaches output or generated code is tested against the spec's own f
(parsed afresh from the spec, never taken from the entry), numerically at 30 digits, at fixed sample points:

  f, f(1)             equal the spec's f
  T*(u) = f'(u)       lies in [f'(u-), f'(u+)] of the spec's f (one-sided, so kinks are allowed); f'(1) is the
                      midpoint there
  critic range        its ends are the stored f'(0+) and f'(oo), it holds f'(u) for u from 2^-60 to 2^60, and
                      a finite end is closed exactly where f is affine (f'' = 0) next to it
  sigma_f and rule    exactly activation(critic range); sigma_f(v) increases and reaches the range's ends
  f* and (f')^-1      branch by branch, at sample t: the branch's u = (f')^-1(t) attains the supremum
                      (t in [f'(u-), f'(u+)], or u = 0 below f'(0+)) and f*(t) = t u - f(u); the Piecewise f*
                      and (f')^-1 agree with the branches; the same at t = sigma_f(v) for v from -60 to 60
  Fenchel-Young       f(u) + f*(t) >= u t on the grid of those u and t
  dom f*              (-oo, f'(oo)), closed exactly where f* is finite at f'(oo)
  f(0+)               the limit extrapolated from f at 10^-40 ... 10^-160 (where f converges fast enough to tell)

These are the derivation's own numeric self-checks, at fewer points: they catch an entry whose contents do not
belong to its spec, not a wrong derivation (its checks did that when it was made). Any failure, or a check that
cannot be evaluated within its CPU-time limit, means the entry is not used.
"""
from __future__ import annotations

import mpmath
import sympy as sp

from .activation import V, activation
from .conjugate import T
from ..errors import DerivationTimeout
from .numeric import mp_function, real_value, to_mpf
from ..spec.spec import U, SymbolicRange
from .._util.timelimit import time_limit

#: CPU seconds the whole check of one entry may take (a catalogue entry takes ~0.05 s).
SECONDS = 10.0
_TOL = mpmath.mpf(10) ** -18
_H = mpmath.mpf(10) ** -25  # relative step of the one-sided derivatives
_U = [sp.Rational(2) ** -60, sp.Rational(2) ** -20, sp.Rational(1, 8) + sp.Rational(1, 97), sp.Rational(3, 7),
      sp.Rational(13, 7), sp.Rational(16, 3), sp.Rational(141, 7), sp.Rational(2) ** 20, sp.Rational(2) ** 60]
_V = [-20, -5, -1, 0, 1, 5, 20]  # sigma_f(v) is checked against the ends at v = +-60
_ZERO = [mpmath.mpf(10) ** -k for k in (40, 80, 120, 160)]


class _Fail(Exception):
    pass


def problem(d, f: sp.Expr, values: dict) -> str | None:
    """None when the entry d passes every check against the spec's f (with its parameter values), else what
    failed, in words."""
    try:
        with time_limit("checking a cached derivation", SECONDS), mpmath.workdps(50):  # compare at 50 digits
            _Check(d, f, values).run()
    except _Fail as exc:
        return str(exc)
    except DerivationTimeout:
        return f"could not be checked within {SECONDS:g} CPU seconds"
    except Exception as exc:  # noqa: BLE001 - an entry that cannot be checked is not used
        return f"could not be checked ({type(exc).__name__})"
    return None


def _close(a, b, *terms) -> bool:
    """a = b to _TOL, relative to their size and to that of the terms b was computed from (t u - f(u) loses
    the digits that t u and f(u) share)."""
    return abs(a - b) <= _TOL * (1 + abs(a) + abs(b) + sum(abs(x) for x in terms))


class _Check:
    def __init__(self, d, f: sp.Expr, values: dict):
        self.d = d
        # symbolic parameter ranges: the entry's formulas use the parameter (alpha) and, in its branches, the
        # positive symbol behind it (alpha_s); the spec's f uses the latter. All get the range's sample value.
        self.subs: dict[str, sp.Expr] = {}
        for name, v in values.items():
            if isinstance(v, SymbolicRange):
                self.subs[v.symbol.name] = v.sample()
                self.subs[name] = v.expr().xreplace({v.symbol: v.sample()})
        self.spec_f = self.function(f, U, "the spec's f")
        pieces = f.rewrite(sp.Piecewise)
        self.spec_df = self.function(sp.diff(pieces, U), U, "the spec's f'")
        self.spec_d2 = sp.diff(pieces, U, 2).xreplace({s: self.subs[s.name] for s in f.free_symbols
                                                        if s.name in self.subs})
        self.cache: dict[tuple[object, object], object] = {}

    # -------------------------------------------------------------------------------------- evaluation
    def function(self, expr, var: sp.Symbol, what: str):
        if not isinstance(expr, sp.Basic):
            raise _Fail(f"{what} is not an expression")
        table = {s: self.subs[s.name] for s in expr.free_symbols if s.name in self.subs}
        expr = expr.xreplace(table) if table else expr
        if expr.free_symbols - {var}:
            raise _Fail(f"{what} has unexpected symbols {sorted(map(str, expr.free_symbols - {var}))}")
        return mp_function(expr, var)

    def value(self, fn, x, what: str):
        key = (fn, x)  # the function itself, not its id: a freed function's id is reused
        if key not in self.cache:
            self.cache[key] = real_value(fn, x)
        y = self.cache[key]
        if y is None:
            raise _Fail(f"{what} is not real at {_show(x)}")
        return y

    def slopes(self, u):
        """f'(u-) and f'(u+) of the spec's f."""
        u = to_mpf(u) if isinstance(u, sp.Basic) else mpmath.mpf(u)
        with mpmath.workdps(70):
            lo, hi = u * (1 - _H), u * (1 + _H)
        return self.value(self.spec_df, lo, "the spec's f'"), self.value(self.spec_df, hi, "the spec's f'")

    def attains(self, t, u, what: str) -> None:
        """u maximises u t - f(u): t lies in the subdifferential [f'(u-), f'(u+)]."""
        left, right = self.slopes(u)
        if not (min(left, right) - _TOL * (1 + abs(t)) <= t <= max(left, right) + _TOL * (1 + abs(t))):
            raise _Fail(f"{what}: f'({_show(u)}) = {_show(left)}, not t = {_show(t)}")

    # ------------------------------------------------------------------------------------------ checks
    def run(self) -> None:
        d = self.d
        f_e = self.function(d.f, U, "f")
        fs = {}
        for u in _U:
            fs[u] = self.value(self.spec_f, u, "the spec's f")
            if not _close(self.value(f_e, u, "f"), fs[u]):
                raise _Fail(f"f differs from the spec's f at u = {u}")
        self.scalars(fs)
        self.ranges()
        ts = self.conjugate_branches()
        ts += self.activation_values()
        self.fenchel_young(fs, ts)

    def scalars(self, fs: dict) -> None:
        d = self.d
        one = self.value(self.spec_f, 1, "the spec's f")
        if not _close(self.number(d.f_at_one, "f(1)"), one):
            raise _Fail("f(1) differs from the spec's f at 1")
        left, right = self.slopes(1)
        if abs(self.number(d.f_prime_at_one, "f'(1)") - (left + right) / 2) > mpmath.mpf(10) ** -12 * (1 + abs(left)):
            raise _Fail("f'(1) is not the spec's f'(1)")
        optimal = self.function(d.optimal_critic, U, "T*(u) = f'(u)")
        for u in _U:
            self.attains(self.value(optimal, u, "T*(u)"), u, "T*(u)")
        self.limit_at_zero()

    def number(self, e, what: str):
        if not isinstance(e, sp.Basic):
            raise _Fail(f"{what} is not an expression")
        e = e.xreplace({s: self.subs[s.name] for s in e.free_symbols if s.name in self.subs})
        if e.free_symbols:
            raise _Fail(f"{what} is not a constant")
        if e in (sp.oo, -sp.oo):
            return to_mpf(e)
        value = real_value(lambda _: to_mpf(e), 0)
        if value is None:
            raise _Fail(f"{what} is not a real number")
        return value

    def limit_at_zero(self) -> None:
        """f(0+) against f at 10^-40, 10^-80, ...: diverging steadily means an infinite limit; converging
        geometrically (ratio of steps < 0.9) gives the limit by Aitken's extrapolation; else undecided."""
        claimed = self.number(self.d.f_at_zero, "f(0+)")
        ys = [real_value(self.spec_f, x) for x in _ZERO]
        if any(y is None for y in ys):
            return  # not evaluable that close to 0 in time: undecided
        steps = [b - a for a, b in zip(ys, ys[1:])]
        if mpmath.isinf(claimed):
            if not all(s * claimed > 0 and abs(s) > mpmath.mpf(10) ** -6 for s in steps):
                raise _Fail(f"f(0+) = {self.d.f_at_zero}, but f converges towards 0")
            return
        if all(abs(a) > mpmath.mpf(10) ** -6 and abs(b) >= abs(a) for a, b in zip(steps, steps[1:])):
            raise _Fail(f"f(0+) = {self.d.f_at_zero}, but f diverges towards 0")
        if steps[-2] == 0:
            limit = ys[-1]
        else:
            r = steps[-1] / steps[-2]
            if abs(r) >= 0.9:
                return  # too slow to extrapolate: undecided
            limit = ys[-1] + steps[-1] * r / (1 - r)
        if abs(limit - claimed) > mpmath.mpf(10) ** -8 * (1 + abs(limit)):
            raise _Fail(f"f(0+) = {self.d.f_at_zero}, but f tends to {_show(limit)}")

    def ranges(self) -> None:
        d = self.d
        crit, dom = d.critic_range, d.conjugate_domain
        if (crit.lower, crit.upper) != (d.f_prime_at_zero, d.f_prime_at_infinity):
            raise _Fail("the critic range is not (f'(0+), f'(oo))")
        if dom.lower != -sp.oo or dom.lower_closed or dom.upper != crit.upper:
            raise _Fail("dom f* is not (-oo, f'(oo))")
        for name, i in (("the critic range", crit), ("dom f*", dom)):  # a closed infinite end printed "(-oo, oo]"
            if (i.lower.is_infinite and i.lower_closed) or (i.upper.is_infinite and i.upper_closed):
                raise _Fail(f"{name} {i} is closed at an infinite end")
        for end, closed, point in ((crit.lower, crit.lower_closed, _U[0]), (crit.upper, crit.upper_closed, _U[-1])):
            if end.is_finite:
                flat = self.affine_at(point)
                if flat is not None and flat != closed:
                    raise _Fail(f"the critic range {crit} is {'closed' if closed else 'open'} at {end}, but f' "
                                f"{'is' if flat else 'is not'} constant there")
        sigma, rule = activation(crit)
        if (sigma, rule) != (d.activation, d.activation_rule):
            raise _Fail("sigma_f is not the activation of the critic range")
        self.lo, self.hi = self.number(crit.lower, "f'(0+)"), self.number(crit.upper, "f'(oo)")
        for u in (*_U, 1):
            left, right = self.slopes(u)
            for s in (left, right):
                if not self.lo - _TOL * (1 + abs(s)) <= s <= self.hi + _TOL * (1 + abs(s)):
                    raise _Fail(f"the critic range {crit} does not hold f'({u}) = {_show(s)}")
        self.conj = self.function(d.conjugate, T, "f*")
        if dom.upper.is_finite:
            finite = self.finite_at_end()
            if finite is not None and finite != dom.upper_closed:
                raise _Fail(f"dom f* = {dom}, but f* {'has a finite' if finite else 'has no finite'} limit at "
                            f"{dom.upper}")

    def affine_at(self, u: sp.Expr) -> bool | None:
        """Whether the spec's f is affine around u (then f' attains the end of the critic range there, which
        is closed): its second derivative at u is exactly 0 (True), clearly not 0 (False), else undecided."""
        d2 = self.spec_d2.subs(U, u)
        if d2 == 0:
            return True
        size = sp.N(abs(d2), 50)
        return False if size.is_number and size > sp.Float("1e-45") else None

    def finite_at_end(self) -> bool | None:
        """Whether f* has a finite limit at the finite end b of dom f* (then dom f* is closed there): f* at
        b - 10^-20 and b - 10^-40 agree (finite), differ by more than 10^-3 (infinite), else undecided."""
        # at 120 digits: b - 10^-40 rounds to b at 30, and an expanded 1/(432 t^2 - 2592 t + 3888) read the same
        # garbage at both points ("finite": the cache entry of -u^(2/3)/4 + 3u was refused)
        with mpmath.workdps(120):  # (t - b)^2 = 1e-80 must survive the expansion's cancellation
            near = [real_value(self.conj, self.hi - mpmath.mpf(10) ** -k, dps=110) for k in (20, 40)]
        if any(y is None for y in near):
            return None
        gap = abs(near[1] - near[0])
        if gap < mpmath.mpf(10) ** -6 * (1 + abs(near[1])):
            return True
        return False if gap > mpmath.mpf(10) ** -3 else None

    def conjugate_branches(self) -> list:
        """f* branch by branch at sample t; returns the t checked."""
        d = self.d
        ratio = self.function(d.ratio_from_critic, T, "(f')^-1")
        lower, checked = -mpmath.inf, []
        if not d.branches:
            raise _Fail("f* has no branches")
        for b in d.branches:
            upper = self.number(b.upper, "a branch end")
            # a kink of f is one closed point t = f'(c) between open branches: it ends where the branch before it
            # does (every f with a kink had its entry refused here, with a warning, and derived again)
            point = b.kind == "kink" and b.closed and upper == lower and mpmath.isfinite(upper)
            if b.kind == "end":
                self.end_value(b, upper, lower)
                checked.append(upper)
                continue
            if not (upper > lower or point):
                raise _Fail("the branches of f* are out of order")
            expr, u_of = self.function(b.expr, T, f"f* ({b.kind} branch)"), self.function(b.ratio, T, "(f')^-1")
            for t in [upper] if point else _inside(lower, upper):
                u = self.value(u_of, t, f"(f')^-1 on the {b.kind} branch")
                value = self.value(expr, t, f"f* on the {b.kind} branch")
                if not _close(self.value(self.conj, t, "f*"), value):
                    raise _Fail(f"f* differs from its {b.kind} branch at t = {_show(t)}")
                if (u == 0) != (b.kind == "boundary"):
                    raise _Fail(f"(f')^-1({_show(t)}) = {_show(u)} on a {b.kind} branch")
                if u == 0:
                    if t > self.lo + _TOL * (1 + abs(t)):
                        raise _Fail(f"(f')^-1({_show(t)}) = 0 outside the boundary branch")
                    expected, scale = -self.number(d.f_at_zero, "f(0+)"), 0
                else:
                    if u < 0:
                        raise _Fail(f"(f')^-1({_show(t)}) = {_show(u)} is negative")
                    self.attains(t, u, f"the {b.kind} branch of f* at t = {_show(t)}")
                    fu = self.value(self.spec_f, u, "the spec's f")
                    expected, scale = t * u - fu, abs(t * u) + abs(fu)
                    if self.lo < t < self.hi and not _close(self.value(ratio, t, "(f')^-1"), u):
                        raise _Fail(f"(f')^-1 differs from its {b.kind} branch at t = {_show(t)}")
                if not _close(value, expected, scale):
                    raise _Fail(f"f*({_show(t)}) = {_show(value)} on the {b.kind} branch, but the supremum of "
                                f"u t - f(u) is {_show(expected)}")
                checked.append(t)
            lower = upper
        if lower != self.hi:
            raise _Fail("the branches of f* do not end at the end of dom f*")
        return checked

    def end_value(self, b, upper, lower) -> None:
        """The closed end t = b = f'(oo) of dom f* as its own point (a numeric branch has no root there): f*(b) is
        lim (b u - f(u)) as u -> oo, the supremum of an increasing function, so every b u - f(u) lies below it
        and the one at u = 10^60 within 10^-6 of it (an entry of a slower tail is derived again)."""
        if not (b.closed and upper == lower == self.hi and mpmath.isfinite(upper)):
            raise _Fail("the end branch of f* is not the closed end of dom f*")
        value = self.value(self.function(b.expr, T, "f* (end branch)"), upper, "f* on the end branch")
        if not _close(self.value(self.conj, upper, "f*"), value):
            raise _Fail(f"f* differs from its end branch at t = {_show(upper)}")
        below = []
        with mpmath.workdps(100):  # b u - f(u) at u = 10^60 cancels 60 digits
            for k in (0, 3, 6, 12, 24, 60):
                fu = real_value(self.spec_f, mpmath.mpf(10) ** k, dps=100)
                if fu is None:
                    raise _Fail(f"the spec's f is not real at u = 1e{k}")
                below.append(upper * mpmath.mpf(10) ** k - fu)
        scale = mpmath.mpf(10) ** -6 * (1 + abs(value))
        if any(x > value + scale for x in below) or value - below[-1] > scale:
            raise _Fail(f"f*({_show(upper)}) = {_show(value)} on the end branch, but the limit of b u - f(u) is "
                        f"not that")

    def activation_values(self) -> list:
        """sigma_f(v) increases, stays in the critic range, reaches its ends; (f')^-1 and f* are right there."""
        sigma = self.function(self.d.activation, V, "sigma_f")
        ratio = self.function(self.d.ratio_from_critic, T, "(f')^-1")
        ts = [self.value(sigma, v, "sigma_f") for v in _V]
        ends = [self.value(sigma, v, "sigma_f") for v in (-60, 60)]
        if any(not b > a for a, b in zip([ends[0], *ts, ends[1]], [*ts, ends[1]])):
            raise _Fail("sigma_f does not increase")
        middle = self.value(sigma, 0, "sigma_f")
        for t, end, v in ((ends[0], self.lo, -60), (ends[1], self.hi, 60)):
            near = abs(t - middle) > 40 if mpmath.isinf(end) else abs(t - end) < mpmath.mpf(10) ** -10 * (1 + abs(end))
            if not near:
                raise _Fail(f"sigma_f({v}) = {_show(t)} is far from the end {_show(end)} of the critic range")
        # to rounding: sigma_f(-60) of a tanh activation is e^-120 above its end, which the working digits may
        # round onto or just past (every such entry was refused, with a warning, and derived again)
        slack = lambda end: mpmath.mpf(10) ** -20 * (1 + abs(end)) if mpmath.isfinite(end) else 0  # noqa: E731
        for t in [ends[0], *ts, ends[1]]:
            if not self.lo - slack(self.lo) <= t <= self.hi + slack(self.hi):
                raise _Fail(f"sigma_f maps outside the critic range: {_show(t)}")
        for t in ts:
            u = self.value(ratio, t, "(f')^-1")
            if not u > 0:
                raise _Fail(f"(f')^-1({_show(t)}) = {_show(u)} is not positive")
            self.attains(t, u, f"(f')^-1 at t = {_show(t)}")
            fu = self.value(self.spec_f, u, "the spec's f")
            expected = t * u - fu
            if not _close(self.value(self.conj, t, "f*"), expected, t * u, fu):
                raise _Fail(f"f*({_show(t)}) is not the supremum of u t - f(u) ({_show(expected)})")
        return ts

    def fenchel_young(self, fs: dict, ts: list) -> None:
        for t in ts:
            g = self.value(self.conj, t, "f*")
            for u, fu in fs.items():
                um = to_mpf(u)
                if fu + g - um * t < -_TOL * (1 + abs(fu) + abs(g) + abs(um * t)):
                    raise _Fail(f"Fenchel-Young inequality fails at u = {u}, t = {_show(t)}")


def _inside(lower, upper) -> list:
    """A few points inside the branch (lower, upper), spread towards infinite ends."""
    if mpmath.isinf(lower) and mpmath.isinf(upper):
        return [mpmath.mpf(x) for x in (-30, -2, -0.5, 0, 0.5, 2, 30)]
    if mpmath.isinf(lower):
        pts = [upper - mpmath.mpf(2) ** k for k in (-20, -4, 0, 3, 6)]
    elif mpmath.isinf(upper):
        pts = [lower + mpmath.mpf(2) ** k for k in (-20, -4, 0, 3, 6)]
    else:
        w = upper - lower
        pts = [lower + w * k for k in (mpmath.mpf(10) ** -6, 0.25, 0.5, 0.75, 1 - mpmath.mpf(10) ** -6)]
    return pts


def _show(x) -> str:
    return mpmath.nstr(x, 8) if isinstance(x, (mpmath.mpf, mpmath.mpc)) else str(x)
