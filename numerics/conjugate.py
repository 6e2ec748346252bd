"""The convex conjugate by direct maximisation: f*(t) = sup_{u >= 0} (u t - f(u)), in mpmath.

Independent of fdiv's symbolic derivation: it never inverts f'. u t - f(u) is concave in u, hence unimodal
in x = log u. A coarse scan over x brackets the maximiser (a plain golden-section search would stall on the
plateau as u -> 0, where values agree to every digit), then golden-section search refines it; u = 0
contributes -f(0+), the limit of the plateau.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import mpmath
import sympy as sp

from fdiv.derivation.numeric import golden_max, mp_exp


COARSE = [-1200, -600, -300, -150, -100, -80] + list(range(-60, 201, 2))


def numeric_conjugate(f: Callable, t, *, dps: int = 50, iterations: int = 200):
    """sup_{u >= 0} (u t - f(u)) to about `dps` digits; f is an mpmath-callable of u > 0.

    u t and f(u) cancel at a closed end of dom f* (both ~ e^200 while their difference stays finite), so the
    work runs at dps + 90 digits and the result keeps `dps` of them.
    Maximisers outside u in [e^-1200, e^200] are not found (the value returned is then a lower bound).
    """
    with mpmath.workdps(dps + 90):
        t = mpmath.mpf(t)

        def psi(x):
            u = mpmath.exp(x)
            try:
                value = u * t - f(u)
            except (ValueError, ZeroDivisionError, OverflowError):
                return -mpmath.inf
            return value.real if isinstance(value, mpmath.mpc) else value

        values = [psi(mpmath.mpf(x)) for x in COARSE]
        k = max(range(len(COARSE)), key=lambda i: (values[i], i))
        a, b = mpmath.mpf(COARSE[max(k - 1, 0)]), mpmath.mpf(COARSE[min(k + 1, len(COARSE) - 1)])
        return max(golden_max(psi, a, b, iterations), values[k])


def grows_without_bound(f: Callable, t, *, dps: int = 50) -> bool:
    """Whether u t - f(u) keeps growing as u -> oo (t beyond dom f*): compare it at u = e^40 and e^80."""
    with mpmath.workdps(dps):
        t = mpmath.mpf(t)
        values = [mpmath.exp(x) * t - f(mpmath.exp(x)) for x in (20, 40, 80)]
        values = [v.real if isinstance(v, mpmath.mpc) else v for v in values]
        return values[2] > values[1] + 1 and values[1] > values[0] + 1


# ------------------------------------------------------------------------------ the supremum with its maximiser
#: Where the search for the maximiser starts (u from 1e-60 to 1e300); it widens, doubling log u, down to e^-X_LOW
#: (1e-651, below every float: a smaller maximiser is reported as 0) and up to e^X_MAX.
X_START = (math.log(1e-60), math.log(1e300))
X_LOW = 1500.0
X_MAX = 50000.0
_OVERFLOW = mpmath.mpf(10) ** 310  # beyond every dtype: +inf is the right float answer


@dataclass(frozen=True)
class Supremum:
    """f*(t) = sup_{u >= 0} (u t - f(u)) with its maximiser u* = (f')^-1(t) and the slope d u*/dt.

    kind: "interior" (f'(u*) = t), "kink" (t strictly inside the subdifferential at a kink c: u* = c, slope 0),
    "zero" (t <= f'(0+): the supremum is approached as u -> 0, u* = 0, f* = -f(0+)), "end" (t >= f'(oo) and the
    supremum is a finite limit as u -> oo: a closed end of dom f*, u* = oo), "infinite" (f*(t) = +oo: t beyond
    dom f* or at an open end; or beyond 1e310 with u* past the search: +inf in every dtype), or "unresolved"
    (no certified answer). maximiser is None where it is not unique
    (f' = t on an interval); slope is None where it is undefined or not a number (at an edge of a kink or of
    f'(0+), where f''(u*) = 0, at an end)."""

    kind: str
    value: object  # mpf, or mpmath.inf
    maximiser: object  # mpf (0 for "zero"), mpmath.inf, or None
    slope: object  # mpf or None


def _kinks(f: sp.Expr, u: sp.Symbol) -> list:
    """The points c > 0 where an Abs, Max or Min argument linear in u changes sign (f' may jump there)."""
    out = set()
    for node in f.atoms(sp.Abs, sp.Max, sp.Min):
        args = node.args if not isinstance(node, sp.Abs) else (node.args[0], sp.S.Zero)
        for a, b in itertools.combinations(args, 2):
            diff = sp.expand(a - b)
            if diff.is_polynomial(u) and sp.degree(diff, u) == 1:
                out.update(x for x in sp.solve(diff, u) if x.is_positive)
    return sorted(out, key=float)


def _digits_of(t) -> int:
    """The decimal digits an mpf's mantissa holds (t is exact at that precision)."""
    return int(abs(int(t.man)).bit_length() * 0.30103) + 2 if t else 1


def _x_digits(x) -> int:
    """Digits at which f'(e^x) resolves O(1) terms next to e^|x| (log(u + 1) - log(u) at u = e^x)."""
    return 40 + int(abs(x) * 0.4343)


class SupremumSearch:
    """f*(t) by searching u >= 0 for the maximiser of the concave u t - f(u), in mpmath; independent of fdiv's
    derivation: it never inverts f'. f' and f'' come from SymPy's diff of f (Abs, Max, Min as Piecewise).

    The maximiser is where the slope t - f'(u) of u t - f(u) changes sign. In x = log u, f'(e^x) - t is
    non-decreasing. A bracket is searched from u = 1e-60 to 1e300 and widened (doubling |log u|) down to e^-1500
    (a smaller maximiser is 0 in every dtype) and up to e^(7 d), d the digits in use (at most e^50000), each end's
    sign certified by two precisions 20 digits apart; then Newton steps kept inside the bracket (bisection where a
    step would leave it or stalls, so jumps of f' are found too) find log u* to 1e-35. A kink whose
    subdifferential holds t is taken directly; where f' = t on an interval (an affine piece of f) the maximiser
    is reported as not unique. Precision: at least 40 digits; 40 + 0.43 |log u| wherever f' is evaluated at u
    (log(u + 1) - log(u) cancels to 1/u); enough to tell t from f'(0+) and f'(oo) (read off f' at u = e^-+2000
    and compared with e^-+1000), and all the digits t holds when it is closer to one than that resolves (where
    even so an end of the bracket is unresolved, 4x the digits, up to all of t's). f*(t) = u* t - f(u*) at 40
    digits more than u* t and f(u*) cancel, and the root is certified again: the slope changes sign across log
    u* -+ 1e-20 at 20 digits more. Where t is at or beyond f'(oo), the supremum is the limit of u t - f(u) as
    u -> oo: finite where it settles (a closed end), +oo where it grows or passes 1e310."""

    def __init__(self, f: sp.Expr, u: sp.Symbol):
        self.kinks = _kinks(f, u)
        f = f.rewrite(sp.Piecewise) if f.has(sp.Abs, sp.Max, sp.Min) else f
        df = sp.diff(f, u)
        self._df_expr, self._u = df, u
        # e^x below -1e400 is 0 (mp_exp): the bracket reaches u = e^50000, where mpmath computed e^(-u/2) of
        # -1/3 u^(2/3) - 5/2 sqrt(u) + 2/3 e^(-u/2) exactly, past the campaign's 5 minutes (seed 24601, index 78)
        modules = [{"exp": mp_exp}, "mpmath"]
        self.f = sp.lambdify(u, f, modules)
        self.df = sp.lambdify(u, df, modules)
        self.d2f = sp.lambdify(u, sp.diff(df, u), modules)
        self._ends = None

    # -- evaluation helpers (mpmath errors and complex values count as "undefined": None)
    @staticmethod
    def _real(y):
        if isinstance(y, mpmath.mpc):
            y = y.real if abs(y.imag) <= mpmath.eps * (1 + abs(y.real)) else None
        return y if y is None or mpmath.isfinite(y) or mpmath.isinf(y) else None

    def _call(self, fn, u):
        try:
            return self._real(fn(u))
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            return None

    def _slope_sign(self, t, x, digits: int):
        """f'(e^x) - t at max(digits, what e^x needs) (None where f' is undefined)."""
        with mpmath.workdps(max(digits, _x_digits(x))):
            d = self._call(self.df, mpmath.exp(x))
            return None if d is None else d - t

    def _psi(self, t, u, digits: int):
        with mpmath.workdps(digits):
            v = self._call(self.f, u)
            return None if v is None else u * t - v

    def ends(self) -> tuple:
        """(f'(0+), f'(oo)): SymPy's limits of f' where it finds them (None for an infinite one), else read off at
        900 digits, None where f' does not settle (to 1e-100 between e^-+1000 and e^-+2000). Read off, -1/(u + 1)
        settles at -e^-2000 (it approaches 0 like 1/u), and t = -e^-2001 (tanh's sigma_f(1000)) lay beyond it:
        f* = +oo where it is 1999."""
        if self._ends is None:
            from fdiv._util.timelimit import attempt

            ends = []
            w = sp.Symbol("w", positive=True)
            with mpmath.workdps(_x_digits(2000) + 10):
                for sign in (-1, 1):
                    # f' beyond the kinks (u = c + 1 + w past the last, u = c/(1 + w) below the first, w -> oo),
                    # where SymPy decides each Max and Abs: as written its limit at oo failed for Max(3 - u, 0)^2 -
                    # 2 log(u + 3), f'(oo) was read off at e^2000 as -5e-869, and f* at t = -9e-8686 (tanh's
                    # sigma_f(1e4)) reported +oo where it is 39995.6
                    if self.kinks:
                        at = self.kinks[-1] + 1 + w if sign > 0 else self.kinks[0] / (1 + w)
                        ok, limit = attempt("a limit of f'", sp.limit, self._df_expr.subs(self._u, at), w, sp.oo,
                                            seconds=10)
                    else:
                        ok, limit = attempt("a limit of f'", sp.limit, self._df_expr, self._u,
                                            sp.S.Zero if sign < 0 else sp.oo, "+" if sign < 0 else "-", seconds=10)
                    if ok and limit.is_extended_real and limit.is_number and not limit.has(sp.Limit):
                        ends.append(mpmath.mpf(sp.N(limit, mpmath.mp.dps)) if limit.is_finite else None)
                        continue
                    near, far = self._call(self.df, mpmath.exp(sign * 1000)), self._call(self.df, mpmath.exp(sign * 2000))
                    settled = near is not None and far is not None and mpmath.isfinite(far) \
                        and abs(far - near) <= mpmath.mpf(10) ** -100 * (1 + abs(far))
                    ends.append(far if settled else None)
            self._ends = tuple(ends)
        return self._ends

    def _digits_for(self, t, dps: int, held: int) -> int:
        """Digits that resolve t from the ends of f''s range: all t holds where it is within 1e-250 of one."""
        need = dps
        with mpmath.workdps(_x_digits(2000) + 10):
            for b in (b for b in self.ends() if b is not None):
                gap = abs(t - b) / (1 + abs(b))
                if gap < mpmath.mpf(10) ** -250:
                    return max(dps, held + 10)
                need = max(need, dps + int(-mpmath.log10(gap)) if gap < 1 else dps)
        return need

    def at(self, t, dps: int = 40) -> Supremum:
        """The supremum at t (an mpf or a float, taken exactly), searched at `dps` digits or more (see the class
        notes). Where the ends of the bracket cannot be told from t even so, the search is repeated at 4x the
        digits, up to all the digits t holds: then t is at that end, and f* is its limit there."""
        t = t if isinstance(t, mpmath.mpf) else mpmath.mpf(t)
        held = _digits_of(t)
        digits = self._digits_for(t, dps, held)
        reach = max(1500.0, self._reach(t))
        while True:
            final = digits >= held + 10
            found = self._search(t, digits, final, min(X_MAX, max(reach, 7.0 * (held + digits))))
            if found.kind != "ambiguous":
                return found
            digits = min(4 * digits, held + 10)

    def _reach(self, t) -> float:
        """log u up to which the bracket may widen at least, from the ends of f''s range: where t is below f' at
        e^2000 (f' increases), u* < e^2000, and the bracket reaches it whatever digits t holds. t = -2.147e-869 (a
        43-digit mantissa) next to f'(oo) = 0, with u* ~ e^2000: a bracket closed at e^1500 (7x the digits held)
        read it as t beyond f'(oo), f* = +inf where it is 999.24. Nearer f'(oo) than f'(e^2000) is, up to e^50000."""
        far = self.ends()[1]
        with mpmath.workdps(_x_digits(2000) + 10):
            if far is None or not t < far:
                return 0.0
            # t below f' at e^2000: u* < e^2000; between it and f'(oo) (tanh's sigma_f(1e4) next to f'(oo) = 0 for
            # -log(u + 1), with u* = e^20000): as far as the search goes, doubling log u
            return 2200.0 if t < self._call(self.df, mpmath.exp(2000)) else X_MAX

    def _side(self, t, x, dps: int):
        """The sign of f'(e^x) - t, certified by evaluating it at two precisions 20 digits apart: -1 or +1 where
        both have that sign and agree to 1e-3 or both exceed 10^(-dps/2) (1 + |t|) (exp(e^x) differs between the
        two at x = 690, but not in sign), 0 where both are exactly 0 on an affine piece of f (f' = t on an
        interval), "?" otherwise (below the resolution), None where f' is undefined."""
        digits = max(dps, _x_digits(x))
        g1, g2 = self._slope_sign(t, x, digits), self._slope_sign(t, x, digits + 20)
        if g1 is None or g2 is None:
            return None
        if g1 == 0 and g2 == 0:  # f' = t on an interval (f'' = 0 there: an affine piece), or t is at an end
            # f'' = 0 at enough digits for terms of f'' like u^-1 to cancel to u^-4 without vanishing
            with mpmath.workdps(digits + int(1.74 * abs(x))):
                flat = self._call(self.d2f, mpmath.exp(x)) == 0
            return 0 if flat else "?"
        with mpmath.workdps(dps):
            large = mpmath.mpf(10) ** -(dps // 2) * (1 + abs(t))
        if g1 * g2 > 0 and (abs(g1 - g2) <= abs(g2) / 1000 or min(abs(g1), abs(g2)) > large):
            return 1 if g2 > 0 else -1
        return "?"

    def _search(self, t, dps: int, final: bool, x_max: float) -> Supremum:
        unresolved = Supremum("unresolved", None, None, None)
        ambiguous = Supremum("ambiguous", None, None, None)
        with mpmath.workdps(dps):
            # a kink whose subdifferential holds t strictly inside: u* = c
            edge = False
            for c in self.kinks:
                c = mpmath.mpf(sp.Float(c, dps + 10))
                # f'(c-) and f'(c+), read off at c (1 -+ eta) for eta = 10^-(dps/3) and its square; their change
                # between the two bounds how far they are from the one-sided limits
                etas = (mpmath.mpf(10) ** -(dps // 3), mpmath.mpf(10) ** -(2 * (dps // 3)))
                lefts = [self._call(self.df, c * (1 - e)) for e in etas]
                rights = [self._call(self.df, c * (1 + e)) for e in etas]
                if None in lefts or None in rights:
                    continue
                left, right = lefts[1], rights[1]
                margin = 10 * max(abs(lefts[0] - left), abs(rights[0] - right)) \
                    + mpmath.mpf(10) ** -(dps - 5) * (1 + abs(t))
                if left - t < -margin and right - t > margin:
                    return Supremum("kink", self._psi(t, c, dps + 40), c, mpmath.mpf(0))
                edge = edge or (left - margin <= t <= right + margin)
            # the lower end of the bracket: where u t - f(u) still increases (f'(u) < t)
            xa, xb = mpmath.mpf(X_START[0]), mpmath.mpf(X_START[1])
            sa = self._side(t, xa, dps)
            while sa is not None and sa != -1 and xa > -X_LOW:
                xa = max(2 * xa, -X_LOW)
                sa = self._side(t, xa, dps)
            if sa is None:
                return unresolved
            if sa != -1:  # f'(u) >= t down to u = e^-1500: u* = 0 in every dtype, f* = -f(0+) + (below 1e-600)
                if sa != 1 and not final:
                    return ambiguous
                value = self._psi(t, mpmath.exp(xa), max(dps, _x_digits(xa)))
                # slope 0 strictly inside the boundary branch t < f'(0+); at its edge (t = f'(0+)) it is one-sided,
                # and where f' = t on an interval the maximiser is not unique
                a = self.ends()[0]
                # (f'(0+) = -oo: u* < e^-1500 and 1/f''(u*) with it)
                inside = sa == 1 and (a is None or t < a - mpmath.mpf(10) ** -300 * (1 + abs(a)))
                return Supremum("zero", value, None if sa == 0 else mpmath.mpf(0), mpmath.mpf(0) if inside else None)
            # the upper end: where it decreases (f'(u) > t)
            sb = self._side(t, xb, dps)
            while sb is not None and sb != 1 and xb < x_max:
                if sb == -1:
                    xa = xb
                xb = min(2 * xb, x_max)
                sb = self._side(t, xb, dps)
            if sb is None:
                return unresolved
            if sb != 1:  # f'(u) <= t up to the end of the search: t is at or beyond f'(oo)
                if sb != -1 and not final:
                    return ambiguous
                return self._beyond(t, x_max, unique=sb != 0)
            x = self._root(t, xa, xb, dps)
            u = mpmath.exp(x)
            value = self._psi(t, u, max(dps, _x_digits(x) + int(mpmath.log10(1 + abs(t)))))
        # the certificate: t - f'(u) changes sign across log u* -+ h, at 20 digits more than the search used
        with mpmath.workdps(max(dps, _x_digits(x)) + 20):
            h = mpmath.mpf(10) ** -20 * max(1, abs(x))
            lo, hi = self._slope_sign(t, x - h, mpmath.mp.dps), self._slope_sign(t, x + h, mpmath.mp.dps)
            if lo is None or hi is None or not (lo <= 0 <= hi) or value is None:
                return unresolved
            # d u*/dt = 1/f''(u*), undefined where f'' vanishes or jumps at u* (a cusp of u*(t): |u - 1|^3 at
            # u = 1, or an edge of a kink): there f'' changes by orders of magnitude across u* -+ h
            if lo == 0 or hi == 0:  # f' = t next to u*: on an affine piece of f every u there is a maximiser
                if self._side(t, x - h if lo == 0 else x + h, dps) == 0:
                    return Supremum("interior", value, None, None)
            seconds = [self._call(self.d2f, u * mpmath.exp(s)) for s in (-h, h)]
            slope = None
            if all(s is not None and mpmath.isfinite(s) and s > 0 for s in seconds) and not edge \
                    and abs(seconds[0] - seconds[1]) <= mpmath.mpf(10) ** -6 * seconds[1]:
                second = self._call(self.d2f, u)
                # and f''(u*) itself agrees with them: at a cusp (f''(1) = 0 for (sqrt(u) - 1)^4, t = 0) u* lies a
                # rounding of the search from the zero of f'', whose f'' there (1e-70) says nothing of the slope's
                # exact value (+inf at t = 0): 1e70 was reported, and the module's +inf called an overflow
                agrees = second is not None and abs(second - seconds[1]) <= mpmath.mpf(10) ** -6 * seconds[1]
                slope = 1 / second if agrees and mpmath.isfinite(second) and second > 0 else None
        return Supremum("interior", value, u, slope)

    def _root(self, t, xa, xb, dps: int):
        """x in [xa, xb] with f'(e^x) = t, to 1e-35 relative: Newton steps inside the bracket, bisection where a
        step would leave it or does not halve the last one."""
        x, width = (xa + xb) / 2, xb - xa
        tol = mpmath.mpf(10) ** -35
        for _ in range(400):
            digits = max(dps, _x_digits(x))
            g = self._slope_sign(t, x, digits)
            if g is None or g == 0:
                break
            if g < 0:
                xa = x
            else:
                xb = x
            if xb - xa <= tol * max(1, abs(x)):
                break
            with mpmath.workdps(digits):
                second = self._call(self.d2f, mpmath.exp(x))
                step = None if not second or not mpmath.isfinite(second) else g / (mpmath.exp(x) * second)
            new = None if step is None else x - step
            if new is None or not (xa < new < xb) or abs(step) > width / 2:
                new = (xa + xb) / 2
                width = xb - xa
            else:
                width = abs(step)
                if width <= tol * max(1, abs(x)):
                    return new
            x = new
        return x

    def _beyond(self, t, x_max: float, unique: bool = True) -> Supremum:
        """t >= f'(oo) (as far as the search shows): u t - f(u) increases for ever; its limit is f*(t), finite at a
        closed end of dom f*. It is read off at u = e^X for X = x_max/16, x_max/4, x_max (and 691 first), with 40
        digits more than the cancellation of u t against f(u) needs: +oo past 1e310 or where it still grows by
        more than 1, a finite end where it changes by less than 1e-30 relative."""
        previous = None
        for x in sorted({min(691.0, x_max), x_max / 16, x_max / 4, x_max}):
            value = self._psi(t, mpmath.exp(x), _x_digits(x) + int(mpmath.log10(1 + abs(t))))
            if value is None:
                return Supremum("unresolved", None, None, None)
            if value > _OVERFLOW or (previous is not None and value - previous > 1):
                return Supremum("infinite", mpmath.inf, mpmath.inf if unique else None, None)
            if previous is not None and abs(value - previous) <= mpmath.mpf(10) ** -30 * max(1, abs(value)):
                # u* = oo, unless f' = t on a whole interval up to oo (then the maximiser is not unique)
                return Supremum("end", value, mpmath.inf if unique else None, None)
            previous = value
        return Supremum("unresolved", None, None, None)
