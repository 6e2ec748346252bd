"""Zero tests and sign tests for the proof engine: the symbolic decisions behind every step.

is_zero(e) tries cheap normal forms first (expand, cancel, logs split where their factors are non-negative),
then SymPy's simplify, under time limits; it handles finite sums (split by linearity, indices renamed),
matrix expressions (products expanded, inverses cancelled, traces rotated, 1x1 products oriented) and the
Lambert W identity W(a e^a) = a. sign_holds(e, rel) decides e >= 0 (or >, <=, <) from the symbols'
assumptions; second_derivative_sign(f, var, rel) decides convexity or concavity piece by piece.
"""
from __future__ import annotations

import sympy as sp

from fdiv._util.timelimit import attempt


def _positive_symbol(name: str = "s") -> sp.Symbol:
    return sp.Symbol(name, positive=True)


def interval_point(lo, hi) -> sp.Expr:
    """A point of (lo, hi) written through a positive symbol s, so that SymPy knows where it lies."""
    s = _positive_symbol()
    if lo == -sp.oo and hi == sp.oo:
        return sp.Symbol("r", real=True)
    if hi == sp.oo:
        return lo + s
    if lo == -sp.oo:
        return hi - s
    return lo + (hi - lo) * s / (1 + s)


def sign_holds(e: sp.Expr, rel: str) -> bool:
    """e rel 0 under the symbols' assumptions (rel in >=, >, <=, <), shown symbolically."""
    if rel in ("<=", "<"):
        return sign_holds(-e, {"<=": ">=", "<": ">"}[rel])
    want = "is_nonnegative" if rel == ">=" else "is_positive"
    # W(z) > 0 for z > 0 (SymPy does not infer it): name each such W by a positive symbol
    e = _lambert(e)
    for k, w in enumerate(sorted(e.atoms(sp.LambertW), key=str)):
        if len(w.args) == 1 and w.args[0].is_positive:
            e = e.xreplace({w: sp.Symbol(f"W{k}", positive=True)})

    def decide(z) -> bool | None:
        if getattr(z, want) is True:
            return True
        n, d = sp.fraction(sp.factor(sp.together(z)))
        if d.is_positive and getattr(n, want) is True:
            return True
        if d.is_negative and getattr(-n, want) is True:
            return True
        return None

    for transform in (lambda z: z, sp.simplify, lambda z: sp.factor(sp.expand(z))):
        ok, z = attempt("checking a sign", transform, e, seconds=10)
        if ok:
            ok, out = attempt("checking a sign", decide, z, seconds=10)
            if ok and out:
                return True
    return False


def _pieces_of(f: sp.Expr, var: sp.Symbol, lo, hi) -> list[tuple[sp.Expr, sp.Expr, sp.Expr]] | None:
    """f on (lo, hi) as smooth pieces (expr, a, b): Abs/Max/Min/Piecewise are cut where a condition changes."""
    g = sp.piecewise_fold(f.rewrite(sp.Piecewise)) if f.has(sp.Abs, sp.Max, sp.Min, sp.Piecewise) else f
    if not isinstance(g, sp.Piecewise):
        return [(g, lo, hi)]
    cuts = set()
    for _, cond in g.args:
        for rel in cond.atoms(sp.Rel):
            ok, roots = attempt("cutting a piecewise function", sp.solve, rel.lhs - rel.rhs, var, seconds=10)
            if not ok:
                return None
            cuts |= {c for c in roots if c.is_real and (c > lo) == sp.true and (c < hi) == sp.true}
    ends = [lo, *sorted(cuts, key=float), hi]
    out = []
    for a, b in zip(ends, ends[1:]):
        probe = (a + b) / 2 if a.is_finite and b.is_finite else (b - 1 if a == -sp.oo else a + 1)
        branch = next((e for e, c in g.args if c.subs(var, probe) == sp.true), None)
        if branch is None:
            return None
        out.append((branch, a, b))
    return out


def one_sided(e: sp.Expr, var: sp.Symbol, c: sp.Expr, side: str) -> sp.Expr:
    """e at var = c from one side: its value where e is an elementary expression finite at c, else the one-sided
    limit (always for Abs, sign, Max, Min and Piecewise, which may jump at c)."""
    if not e.has(sp.Abs, sp.sign, sp.Max, sp.Min, sp.Piecewise, sp.Heaviside):
        value = e.subs(var, c)  # continuous at c where finite
        if value.is_finite:
            return value
    ok, lim = attempt("a one-sided limit", sp.limit, e, var, c, side, seconds=10)
    return lim if ok else sp.nan


def second_derivative_sign(f: sp.Expr, var: sp.Symbol, rel: str) -> tuple[bool, str]:
    """f'' rel 0 on var's domain (its assumptions); Abs/Max/Min/Piecewise are cut at their kinks, where the
    slope must rise (convex) or fall (concave) and f must be continuous."""
    lo = sp.S.Zero if var.is_positive or var.is_nonnegative else -sp.oo
    hi = sp.S.Zero if var.is_negative or var.is_nonpositive else sp.oo
    pieces = _pieces_of(f, var, lo, hi)
    if pieces is None:
        return False, "could not cut f into smooth pieces"
    for expr, a, b in pieces:
        point = interval_point(a, b)
        if not sign_holds(sp.diff(expr, var, 2).subs(var, point), rel):
            return False, f"f'' {rel} 0 not shown on ({a}, {b}) for the piece {expr}"
    for (left, _, c), (right, _, _) in zip(pieces, pieces[1:]):
        jump = one_sided(left, var, c, "-") - one_sided(right, var, c, "+")
        rise = one_sided(sp.diff(right, var), var, c, "+") - one_sided(sp.diff(left, var), var, c, "-")
        if not is_zero(jump) or not sign_holds(rise, rel):
            return False, f"at the kink {var} = {c}: continuity or the slope's change not shown"
    kinks = f" and {len(pieces) - 1} kink(s)" if len(pieces) > 1 else ""
    return True, f"symbolic (second derivative on {len(pieces)} piece(s){kinks})"



def _exp_substituted(b: sp.Expr) -> sp.Expr:
    """b with exp(a) written as 1 + k (a > 0) or 1/(1 + k) (a < 0), k > 0: e^a > 1 exactly when a > 0."""
    subs = {}
    for k, z in enumerate(sorted(b.atoms(sp.exp), key=str)):
        arg = z.args[0]
        kk = sp.Symbol(f"k{k}", positive=True)
        if arg.is_positive:
            subs[z] = 1 + kk
        elif arg.is_negative:
            subs[z] = 1 / (1 + kk)
    return b.xreplace(subs) if subs else b


def _nonnegative_factor(b: sp.Expr) -> bool:
    if b.is_nonnegative:
        return True
    if not b.free_symbols:
        return False
    n, d = sp.fraction(sp.factor(sp.together(_exp_substituted(b))))
    return bool(n.is_nonnegative and d.is_positive)


def expand_log_safe(e: sp.Expr) -> sp.Expr:
    """log(a b) -> log a + log b and log(a^k) -> k log a where the factors are non-negative (sound, unlike
    expand_log(force=True) in general); a zero factor would leave both sides undefined."""
    def split(z: sp.log) -> sp.Expr:
        arg = z.args[0]
        if isinstance(arg, sp.Mul) and all(_nonnegative_factor(f) for f in arg.args):
            return sp.Add(*[expand_log_safe(sp.log(f)) for f in arg.args])
        if isinstance(arg, sp.Pow) and arg.exp.is_real and _nonnegative_factor(arg.base):
            return arg.exp * expand_log_safe(sp.log(arg.base))
        return z
    return e.replace(lambda z: isinstance(z, sp.log), split)


def _lambert(e: sp.Expr) -> sp.Expr:
    """W(a e^a) = a for a >= -1 (the principal branch), which SymPy does not apply itself."""
    def rule(z: sp.LambertW) -> sp.Expr:
        if len(z.args) != 1:
            return z
        arg = sp.expand(sp.powsimp(sp.expand(z.args[0], power_exp=True)), power_exp=True)
        exps = [f for f in sp.Mul.make_args(arg) if isinstance(f, sp.exp)]
        if len(exps) == 1:
            a = exps[0].args[0]
            rest = arg / exps[0]
            if _cheap_zero(rest - a) and (a + 1).is_nonnegative:
                return a
        return z
    return e.replace(lambda z: isinstance(z, sp.LambertW), rule) if e.has(sp.LambertW) else e


def _cheap_zero(e: sp.Expr) -> bool:
    return e == 0 or sp.cancel(sp.together(sp.expand(e))) == 0


def is_zero(e) -> bool:
    if isinstance(e, (sp.MatrixBase, sp.MatrixExpr)):
        return matrix_zero(e)
    if e == 0:
        return True
    # a step may show a substitution or a derivative unevaluated (so the report says what is computed)
    e = e.replace(lambda z: isinstance(z, (sp.Subs, sp.Derivative)), lambda z: z.doit(deep=False))
    e = _lambert(e)
    if e.atoms(sp.MatrixSymbol):
        ok, out = attempt("matrix algebra in a proof step", canonical_matrix, e, seconds=15)
        if ok and out == 0:
            return True
        e = out if ok else e
    if e.has(sp.Sum):
        e = _canonical_sums(e)
    cheap = (lambda z: sp.expand(z), lambda z: sp.cancel(sp.together(z)),
             lambda z: sp.expand(expand_log_safe(sp.expand(z))),
             lambda z: sp.expand(expand_log_safe(sp.expand(_factor_logs(z)))))
    for transform in cheap:
        ok, out = attempt("simplifying a proof step", transform, e, seconds=5)
        if ok and out == 0:
            return True
    heavy = [sp.simplify, lambda z: sp.simplify(expand_log_safe(sp.expand(z))),
             lambda z: sp.simplify(_factor_radicands(z))]
    if e.has(sp.Abs, sp.Max, sp.Min, sp.Piecewise, sp.sign):
        heavy.append(lambda z: sp.simplify(sp.piecewise_fold(z.rewrite(sp.Piecewise))))
    for transform in heavy:
        ok, out = attempt("simplifying a proof step", transform, e, seconds=15)
        if ok and out == 0:
            return True
    return False


def _sum_over(expr: sp.Expr, limit: tuple) -> sp.Expr:
    """The sum of expr over one index, by linearity: terms free of the index count (hi - lo + 1) times."""
    i, lo, hi = limit
    out = sp.S.Zero
    for term in sp.Add.make_args(sp.expand(expr)):
        c, rest = term.as_independent(i, as_Add=False)
        if not rest.has(i):
            out += c * rest * (hi - lo + 1)
        else:
            out += c * sp.Sum(rest, limit)
    return out


def _split_sum(z: sp.Sum) -> sp.Expr:
    """Linearity of a finite sum: Sum(a + c b) = Sum(a) + c Sum(b), and Sum(c) = c (number of terms), for c
    free of the index; multiple limits from the innermost out."""
    out = z.function
    for limit in z.limits:
        out = _sum_over(out, limit)
    return out


def _canonical_sums(e: sp.Expr) -> sp.Expr:
    """Sums split by linearity and their bound indices renamed canonically (alpha-renaming), so that equal
    sums compare equal."""
    e = e.replace(lambda z: isinstance(z, sp.Sum), _split_sum)
    return sp.expand(e.replace(lambda z: isinstance(z, sp.Sum), lambda z: z.as_dummy()))


def _factor_logs(e: sp.Expr) -> sp.Expr:
    """log(a) with a cancelled and factored, so that its positive factors can be split off."""
    return e.replace(lambda z: isinstance(z, sp.log), lambda z: sp.log(sp.factor(sp.cancel(sp.together(z.args[0])))))


def _factor_radicands(e: sp.Expr) -> sp.Expr:
    """sqrt(a) with a factored (so that sqrt(4/(u + 1)^2) becomes 2/(u + 1) for u > 0)."""
    return e.replace(lambda z: isinstance(z, sp.Pow) and z.exp.is_Rational and not z.exp.is_integer,
                     lambda z: sp.powdenest(sp.factor(sp.together(z.base)) ** z.exp, force=False))


def canonical_matrix(e: sp.Basic) -> sp.Basic:
    """Expand products (inside traces too: the trace is linear), cancel inverses, rotate each trace of a
    product to a canonical order (the trace is cyclic), and write each 1x1 product one way (it equals its
    transpose)."""
    def open_trace(t: sp.Trace) -> sp.Expr:
        arg = t.arg.expand().doit() if isinstance(t.arg, sp.MatrixExpr) else t.arg
        return sp.Add(*[sp.Trace(term).doit() if not isinstance(term, sp.MatMul) or term.args[0].is_number
                        is not True else term.args[0] * sp.Trace(sp.MatMul(*term.args[1:])).doit()
                        for term in sp.Add.make_args(arg)]) if isinstance(arg, sp.MatAdd) else sp.Trace(arg).doit()

    def rotate(t: sp.Trace) -> sp.Expr:
        arg = t.arg
        if isinstance(arg, sp.MatMul):
            coeff, mats = arg.as_coeff_matrices()
            forms = [sp.MatMul(*(mats[i:] + mats[:i])).doit() for i in range(len(mats))]
            forms += [sp.Transpose(f).doit() for f in forms]  # tr(M) = tr(M')
            return coeff * sp.Trace(min(forms, key=str))
        return t

    def orient(m: sp.Basic) -> sp.Basic:
        if isinstance(m, sp.MatMul) and m.shape == (1, 1):
            return min((m, sp.Transpose(m).doit()), key=str)
        return m

    if isinstance(e, sp.MatrixExpr):
        e = e.expand().doit()
    e = e.replace(lambda z: isinstance(z, sp.Determinant), lambda z: z.doit())  # det is multiplicative
    e = e.replace(lambda z: isinstance(z, sp.Trace), open_trace)
    e = e.replace(lambda z: isinstance(z, sp.Trace), rotate)
    e = e.replace(lambda z: isinstance(z, sp.MatMul) and z.shape == (1, 1), orient)
    return sp.expand(e) if not isinstance(e, sp.MatrixExpr) else e


def matrix_zero(e: sp.Basic) -> bool:
    if isinstance(e, sp.MatrixBase):
        return all(is_zero(entry) for entry in e)
    ok, out = attempt("matrix algebra in a proof step", canonical_matrix, e, seconds=15)
    if not ok:
        return False
    if out == 0 or isinstance(out, sp.ZeroMatrix) or (isinstance(out, sp.MatrixExpr) and out.is_ZeroMatrix):
        return True
    ok, out = attempt("matrix algebra in a proof step", lambda z: canonical_matrix(sp.simplify(z)), out, seconds=15)
    return ok and (out == 0 or isinstance(out, sp.ZeroMatrix))
