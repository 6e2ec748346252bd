"""Lowering of numeric conjugate branches: torch code that solves f'(u) = t, with exact gradients.

A branch without a closed form is f*(t) = t u* - f(u*), u* the root of f'(u) = t on a piece (lo, hi) where
f' increases. The generated module solves for y, u = map(y) (e^y on (0, oo), a shifted e^y on (lo, oo), a
logistic on a finite piece), by a bracketed Newton iteration in float64 (runtime._bracketed_newton), and
wraps the result in a torch.autograd.Function whose backward is the implicit function theorem:
d f*/dt = u*, d u*/dt = 1/f''(u*). Gradients never run through the iterations.

Each piece is solved in one of three forms, chosen so that no digits are lost where u* runs to 0 or oo:
  direct  asinh(f'(u)) = asinh(t)                    (asinh keeps Newton near-linear when f' grows fast)
  lo      log(f'(u) - a) = log c,  t = a + c        (the piece starts at u = 0 with finite slope a = f'(0+))
  hi      -log(b - f'(u)) = -log c, t = b - c       (the piece runs to oo with finite slope b = f'(oo))
with f'(u) - a, b - f'(u), a u - f(u) and b u - f(u) simplified symbolically first, so the distances to
the ends of the slope range are computed without cancellation. The value in the anchored forms is
(a u - f(u)) + c u or (b u - f(u)) - c u; c u = exp(log c + log u) never overflows before the result does.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..conjugate import T, Branch
from ..errors import DerivationError
from ..inverse import PieceConjugate
from ..spec import U
from ..timelimit import attempt
from .printer import TorchPrinter
from .rules import apply_rules

_Y_RANGE = {"exp": (-745.0, 709.0), "shifted": (-745.0, 709.0), "logistic": (-745.0, 745.0)}


@dataclass(frozen=True)
class NumericPiece:
    index: int
    f: sp.Expr
    lo: sp.Expr  # the piece is u in (lo, hi)
    hi: sp.Expr
    slope_lo: sp.Expr  # f'(lo+), f'(hi-)
    slope_hi: sp.Expr

    @property
    def forms(self) -> tuple[str, ...]:
        out = []
        if self.lo == 0 and self.slope_lo.is_finite:
            out.append("lo")
        if self.hi == sp.oo and self.slope_hi.is_finite:
            out.append("hi")
        return tuple(out) or ("direct",)

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
            out[i] = NumericPiece(len(out), f, lo, hi, previous, b.upper)
        previous = b.upper
    return out


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


def _error(e: sp.Expr, points: list, *, reach: bool = False) -> int:
    """How many of the points e evaluates badly in float64 (numpy): more than 1e-13 relative from mpmath (at
    enough digits that its own cancellation does not matter), or not finite where the exact value is a normal
    float. With reach=True (points ordered outwards towards an end), how many points lie past the first bad
    one: a form that stays accurate further towards u = 0 or oo scores lower."""
    import mpmath
    import numpy as np

    fast, exact = sp.lambdify(U, e, "numpy"), sp.lambdify(U, e, "mpmath")
    bad = 0
    with np.errstate(all="ignore"):
        for x in points:
            try:
                # a form that cancels loses ~2 log10(u) digits: the reference carries them
                with mpmath.workdps(40 + 2 * int(abs(np.log10(x)))):
                    ref = exact(mpmath.mpf(x))
            except (ValueError, ZeroDivisionError, OverflowError, TypeError):
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
_EVERYWHERE = [2.0**k for k in range(-400, 401, 10)]
_NEAR = {"lo": [2.0**-k for k in range(0, 1001, 10)], "hi": [2.0**k for k in range(0, 1001, 10)]}


def _simplest(e: sp.Expr, what: str, region: str | None = None) -> sp.Expr:
    """Among equivalent forms (expanded, cancelled, simplified, logs expanded, radicals rationalised), the one
    evaluated most accurately in float64 where it is used (towards u = 0 or u = oo for a distance to an end of
    f''s range), then the shortest: a form is judged by how many sample points it evaluates badly in float64,
    not by its looks."""
    forms = [e]
    for step in (sp.expand, sp.cancel, sp.simplify, lambda x: sp.expand(sp.expand_log(x, force=True)), _rationalised):
        ok, form = attempt(what, step, e, seconds=5)
        if ok and not form.has(sp.zoo, sp.nan, sp.I):
            forms.append(form)
    regions = [(_NEAR[region], True)] if region in _NEAR else [(_NEAR_ONE, False), (_EVERYWHERE, False)]
    scored = []
    for form in dict.fromkeys(forms):
        counts = []
        for points, reach in regions:
            ok, bad = attempt(what, lambda: _error(form, points, reach=reach), seconds=10)
            counts.append(bad if ok else len(points) + 1)
        scored.append((*counts, sp.count_ops(form), len(str(form)), form))
    return min(scored, key=lambda x: x[:-1])[-1]


def _printed(e: sp.Expr, helpers: set[str]) -> str:
    printer = TorchPrinter(U, "u")
    text = printer.emit(apply_rules(e))
    helpers |= printer.helpers
    if printer.branches:
        raise DerivationError("a numeric branch cannot be lowered: its f is piecewise inside a smooth piece")
    return text


def _map(piece: NumericPiece) -> tuple[str, str]:
    """(kind, code computing `u, du` from y)."""
    if piece.hi == sp.oo:
        if piece.lo == 0:
            return "exp", "_exp_map(y)"
        return "shifted", f"_shifted_exp_map(y, {float(piece.lo)!r})"
    return "logistic", f"_logistic_map(y, {float(piece.lo)!r}, {float(piece.hi)!r})"


def piece_source(piece: NumericPiece, helpers: set[str]) -> str:
    """The functions and autograd classes of one numeric piece."""
    k = piece.index
    f = piece.f
    df = _simplest(sp.diff(f, U), "simplifying f'")
    d2f = _simplest(sp.diff(df, U), "simplifying f''")
    kind, mapping = _map(piece)
    helpers |= {"_bracketed_newton", {"exp": "_exp_map", "shifted": "_shifted_exp_map",
                                      "logistic": "_logistic_map"}[kind]}
    y_lo, y_hi = _Y_RANGE[kind]
    interval = f"({piece.lo}, {piece.hi})"
    lines = [
        f"def _piece{k}_f(u):",
        f'    """f(u) on u in {interval}."""',
        f"    return {_printed(f, helpers)}",
        "",
        "",
        f"def _piece{k}_df(u):",
        f'    """f\'(u) on u in {interval}."""',
        f"    return {_printed(df, helpers)}",
        "",
        "",
        f"def _piece{k}_d2f(u):",
        f'    """f\'\'(u) on u in {interval}."""',
        f"    return {_printed(d2f, helpers)}",
    ]
    log_u = "y" if kind == "exp" else "torch.log(u)"
    for form in piece.forms:
        if form == "direct":
            g_value, g_slope = "torch.asinh(s)", "_piece{k}_d2f(u) / torch.hypot(torch.ones_like(s), s)"
            pre = f"s = _piece{k}_df(u)"
            target = "torch.asinh(x)"
            value = f"x * u - _piece{k}_f(u)"
            d_value, d_ratio = "u", f"1.0 / _piece{k}_d2f(u)"
            doc = "f'(u) = t, solved as asinh(f'(u)) = asinh(t); input t"
        else:
            s = piece.slope_lo if form == "lo" else piece.slope_hi
            sign = 1 if form == "lo" else -1
            gap = _simplest(sign * (df - s), "simplifying the distance of f' to the end of its range", form)
            rest = _simplest(s * U - f, "simplifying s u - f(u)", form)
            name = f"_piece{k}_{form}_gap"
            what = f"f'(u) - ({s})" if form == "lo" else f"{s} - f'(u)"
            lines += ["", "", f"def {name}(u):",
                      f'    """{what}, without cancellation."""',
                      f"    return {_printed(gap, helpers)}",
                      "", "", f"def _piece{k}_{form}_rest(u):",
                      f'    """{s} u - f(u), without cancellation."""',
                      f"    return {_printed(rest, helpers)}"]
            pre = f"s = {name}(u)"
            if form == "lo":
                g_value, g_slope = "torch.log(s)", "_piece{k}_d2f(u) / s"
                target, doc = "x", f"f'(u) - {s} = c, solved as log(f'(u) - {s}) = log c; input log c"
                value = f"_piece{k}_lo_rest(u) + torch.exp(x + {log_u})"
                d_value, d_ratio = f"torch.exp(x + {log_u})", f"torch.exp(x) / _piece{k}_d2f(u)"
            else:
                g_value, g_slope = "-torch.log(s)", "_piece{k}_d2f(u) / s"
                target, doc = "-x", f"{s} - f'(u) = c, solved as -log({s} - f'(u)) = -log c; input log c"
                value = f"_piece{k}_hi_rest(u) - torch.exp(x + {log_u})"
                d_value, d_ratio = f"-torch.exp(x + {log_u})", f"-torch.exp(x) / _piece{k}_d2f(u)"
        cls = f"_Piece{k}{form.capitalize()}"
        lines += [
            "", "",
            f"def _piece{k}_{form}_g(y):",
            f'    """The increasing function of y whose root gives u* ({doc}), and its derivative."""',
            f"    u, du = {mapping}",
            f"    {pre}",
            f"    return {g_value}, {g_slope.format(k=k)} * du",
            "", "",
            f"class {cls}(torch.autograd.Function):",
            f'    """(f*, u*) on u in {interval}: {doc}. float64 inside, the input dtype outside; the backward',
            '    pass is the implicit function theorem (d f*/dt = u*, d u*/dt = 1/f\'\'(u*)), not the iterations."""',
            "",
            "    @staticmethod",
            "    def forward(ctx, x_in):",
            "        x = x_in.double()",
            f"        y = _bracketed_newton({target}, _piece{k}_{form}_g, {y_lo!r}, {y_hi!r})",
            f"        u, _ = {mapping}",
            f"        value = {value}",
            "        ctx.save_for_backward(x, y, u)",
            "        return value.to(x_in.dtype), u.to(x_in.dtype)",
            "",
            "    @staticmethod",
            "    def backward(ctx, grad_value, grad_ratio):",
            "        x, y, u = ctx.saved_tensors",
            "        gv, gr = grad_value.double(), grad_ratio.double()",
            "        # each term only where its incoming gradient is non-zero: d u*/dt = 1/f''(u*) is infinite where",
            "        # f'' vanishes (u* = 1 for (sqrt(u) - 1)^4, the optimum when P = Q), and 0 * inf would be NaN",
            f"        grad = torch.where(gv == 0, torch.zeros_like(gv), gv * ({d_value}))",
            f"        grad = grad + torch.where(gr == 0, torch.zeros_like(gr), gr * ({d_ratio}))",
            "        return grad.to(grad_value.dtype)",
            "", "",
            f"def _piece{k}_{form}(x):",
            f"    return {cls}.apply(x)[0]",
            "", "",
            f"def _piece{k}_{form}_ratio(x):",
            f"    return {cls}.apply(x)[1]",
        ]
    return "\n".join(lines)


def branch_call(piece: NumericPiece, t: sp.Expr, log_c: dict[str, sp.Expr], *, ratio: bool = False,
                split: sp.Expr | None = None, var: sp.Symbol = T) -> sp.Expr:
    """The call that evaluates the piece at t: the anchored form where the piece has one (log c given per
    form), both split at `split` (in var) when it has two."""
    forms = piece.forms
    if forms == ("direct",):
        return piece.call("direct", t, ratio)
    if len(forms) == 1:
        return piece.call(forms[0], log_c[forms[0]], ratio)
    return sp.Piecewise((piece.call("lo", log_c["lo"], ratio), var < split),
                        (piece.call("hi", log_c["hi"], ratio), True))
