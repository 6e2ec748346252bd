"""The convex conjugate over u >= 0: f*(t) = sup_{u >= 0} (u t - f(u)), exactly and piecewise.

Branches in increasing t:
  t <= f'(0+)                     -f(0)          (only when f'(0+) is finite; then f(0) is finite too)
  f'(lo+) < t < f'(hi-) on a piece  t u(t) - f(u(t)), u(t) = (f')^-1(t) on that piece (the real branch)
  t in [f'(c-), f'(c+)] at a kink c  t c - f(c)   (subdifferential)
  t > f'(oo)                      +oo            (outside dom f*)
The end t = f'(oo) is in dom f* exactly when the supremum is finite there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import sympy as sp

from .._util.checks import Check, numeric_method
from ..errors import DerivationError
from .numeric import mp_function, numeric_form, real_value, to_mpf
from ..spec.spec import U
from .inverse import is_numeric, piece_conjugate, slope_inverse
from .._util.timelimit import decide, step_seconds, time_limit
from .validate import Analysis, Piece

T = sp.Symbol("t", real=True)
_S = sp.Symbol("s", positive=True)  # t measured from a finite end of a piece's slope range


@dataclass(frozen=True)
class Interval:
    """An interval of the real line with exact ends (+-oo allowed); the JSON contract's shape."""

    lower: sp.Expr
    upper: sp.Expr
    lower_closed: bool
    upper_closed: bool

    def to_json(self) -> dict:
        return {"lower": str(self.lower), "upper": str(self.upper),
                "lower_closed": self.lower_closed, "upper_closed": self.upper_closed}

    def __str__(self) -> str:
        return f"{'[' if self.lower_closed else '('}{self.lower}, {self.upper}{']' if self.upper_closed else ')'}"

    def as_set(self) -> sp.Interval:
        return sp.Interval(self.lower, self.upper, not self.lower_closed, not self.upper_closed)


@dataclass(frozen=True)
class Branch:
    kind: str  # "boundary" | "smooth" | "kink"
    expr: sp.Expr  # f*(t) on the branch
    upper: sp.Expr  # the branch holds for t < upper (t <= upper when closed)
    closed: bool
    ratio: sp.Expr  # the maximising u as a function of t: (f')^-1(t)

    @property
    def numeric(self) -> bool:
        return is_numeric(self.expr)


@dataclass(frozen=True)
class Conjugate:
    branches: tuple[Branch, ...]
    expr: sp.Expr  # Piecewise in t, valid on domain
    domain: Interval
    critic_range: Interval
    ratio: sp.Expr  # (f')^-1(t) on the critic range
    checks: tuple[Check, ...] = ()  # numeric decisions made on the way (labelled)

    @property
    def numeric(self) -> bool:
        """Whether some branch has no closed form (evaluated as a root of f'(u) = t)."""
        return any(b.numeric for b in self.branches)


def conjugate(a: Analysis) -> Conjugate:
    branches: list[Branch] = []
    if a.f_prime_at_zero.is_finite:
        if not a.f_at_zero.is_finite:
            raise DerivationError(f"f'(0+) = {a.f_prime_at_zero} is finite but f(0+) = {a.f_at_zero} is not")
        branches.append(Branch("boundary", -a.f_at_zero, a.f_prime_at_zero, True, sp.Integer(0)))
    smooth = [None if piece.affine else _smooth_branch(piece) for piece in a.pieces]
    for i, piece in enumerate(a.pieces):
        if smooth[i] is not None:
            expr, ratio = smooth[i]
            branches.append(Branch("smooth", expr, piece.df_hi, False, ratio))
        if i + 1 < len(a.pieces):
            c, nxt = piece.hi, a.pieces[i + 1]
            # a kink's subdifferential [f'(c-), f'(c+)]; at a C1 breakpoint between two smooth branches one of which
            # is numeric, the single point t = f'(c), which neither root solve holds (its root is a piece's end)
            c1_point = smooth[i] is not None and smooth[i + 1] is not None and (
                is_numeric(smooth[i][0]) or is_numeric(smooth[i + 1][0]))
            if nxt.df_lo != piece.df_hi or c1_point:
                branches.append(Branch("kink", sp.expand(T * c - piece.f.subs(U, c)), nxt.df_lo, True, c))
    upper = a.f_prime_at_infinity
    closed, checks = False, []
    if upper.is_finite:
        closed, at_end, check = _finite_at_end(branches[-1], a.pieces[-1], upper)
        checks = [check] if check else []
        if closed and branches[-1].numeric and at_end is not None:
            # the closed end t = f'(oo) of a numeric branch: f*(b) = lim (b u - f(u)) as u -> oo, where f'(u) = b has
            # no root to solve for (u* = oo)
            branches.append(Branch("end", at_end, upper, True, sp.oo))
    domain = Interval(-sp.oo, upper, False, closed)
    critic = Interval(a.f_prime_at_zero, upper, a.pieces[0].affine, a.pieces[-1].affine)
    inner = [b for b in branches if b.kind != "boundary"] or branches
    return Conjugate(tuple(branches), _piecewise(branches, "expr"), domain, critic, _piecewise(inner, "ratio"),
                     tuple(checks))


def _finite_at_end(last: Branch, piece: Piece, b: sp.Expr) -> tuple[bool, sp.Expr | None, Check | None]:
    """Is f*(b) = lim_{u -> oo} (b u - f(u)) finite? Tried as that limit in u, then as the limit of the last
    branch at b-; where SymPy cannot decide, b u - f(u) (increasing in u) is followed out to u = 2^640 at 60
    digits and the answer is reported as a numeric check. Returns (finite, the exact value where SymPy found it,
    the numeric check where it did not)."""
    tries = []
    if last.kind == "kink":
        tries.append(lambda: last.expr.subs(T, b))
    # b u - f(u) increases (its slope b - f'(u) > 0), so f*(b) is its limit: usually far cheaper than the
    # limit of the branch (0.06 s against 19 s for the alpha-divergence with alpha < 0 symbolic)
    tries.append(lambda: sp.limit(b * U - piece.f, U, sp.oo))  # as it stands first: simplify costs 1 s at times
    tries.append(lambda: sp.limit(sp.simplify(b * U - piece.f), U, sp.oo))
    if last.kind != "kink" and not is_numeric(last.expr):
        tries.append(lambda: sp.limit(last.expr, T, b, "-"))
    for fn in tries:
        ok, at_end = decide("computing f* at the end of its domain", fn)
        if ok and isinstance(at_end, sp.Expr) and at_end.is_finite is not None and not isinstance(at_end, sp.Limit) \
                and not at_end.has(sp.AccumBounds, sp.nan):
            return bool(at_end.is_finite), at_end if at_end.is_finite else None, None
    gap = mp_function(b * U - piece.f, U)
    with mpmath.workdps(60):
        values = [real_value(gap, mpmath.mpf(2) ** k, dps=60) for k in (40, 80, 160, 320, 640)]
    if any(v is None for v in values):
        raise DerivationError(f"could not decide whether t = {b} belongs to dom f*: b u - f(u) is not real for large u")
    steps = [y - x for x, y in zip(values, values[1:])]
    finite = steps[-1] < steps[-2] / 4 or steps[-1] < mpmath.mpf(10) ** -25
    detail = (f"b u - f(u) at u = 2^40 ... 2^640: increments {', '.join(mpmath.nstr(d, 3) for d in steps)}; "
              f"{'they shrink: a finite limit' if finite else 'they do not shrink: it grows without bound'}")
    return finite, None, Check(f"t = {b} {'in' if finite else 'not in'} dom f*", True, numeric_method(len(values), 60),
                         detail)


def _piecewise(branches: list[Branch], field: str) -> sp.Expr:
    pairs: list[tuple[sp.Expr, sp.Expr]] = []
    for i, b in enumerate(branches):
        value = getattr(b, field)
        cond = sp.true if i == len(branches) - 1 else (T <= b.upper if b.closed else T < b.upper)
        if pairs and pairs[-1][0] == value:
            pairs[-1] = (value, cond)
        else:
            pairs.append((value, cond))
    return pairs[0][0] if len(pairs) == 1 else sp.Piecewise(*pairs)


#: Every smooth branch numeric, no closed form tried: a test switch (the two paths compared on one f); the cache key
#: holds it.
FORCE_NUMERIC = False


def _smooth_branch(piece: Piece) -> tuple[sp.Expr, sp.Expr]:
    """(f*(t), u(t)) on a smooth strictly convex piece: invert f'(u) = t on the right real branch.

    Closed forms first (an isolated logarithm, then SymPy's solve, both under time limits); where neither
    gives a usable real branch, the branch is the numeric conjugate t u*(t) - f(u*(t)) with u*(t) the root
    of f'(u) = t on the piece (fdiv.inverse), labelled numeric wherever it is shown."""
    lo_t, hi_t = piece.df_lo, piece.df_hi
    if hi_t.is_finite:
        t_of_s, s_of_t, width = hi_t - _S, hi_t - T, hi_t - lo_t
    elif lo_t.is_finite:
        t_of_s, s_of_t, width = lo_t + _S, T - lo_t, sp.oo
    else:
        t_of_s, s_of_t, width = T, T, None
    var = _S if width is not None else T
    samples = _samples(width)
    cand = None
    if FORCE_NUMERIC:
        return numeric_branch(piece)
    strategies = [_log_isolated, _lambert_linear, _lambert_log_power, _one_power] + ([] if _needs_cardano(piece.df) or _radicals_over_budget(piece.df)
                                     or not _solvable_shape(piece.df) else [_solved])
    for strategy in strategies:  # the cheap one first; solve only when it finds nothing
        found = [c for c in strategy(piece.df, t_of_s) if _usable(c)]
        for c in found + [_real_roots(c) for c in found]:
            c = _tidy_lambert(c)
            if _is_inverse(c, piece, var, t_of_s, samples):
                cand = c
                break
        if cand is not None:
            break
    if cand is None:
        return numeric_branch(piece)
    ok, value = decide("simplifying f*", lambda: _sign_rules(_tidy_lambert(t_of_s * cand - piece.f.subs(U, cand))))
    # the budgets are for code that runs on numbers: with a symbolic parameter (alpha in (0, 1)) the closed form is
    # the only one there is (a numeric f* needs numbers), and its length is the parameter's
    budget = 1 if not ok or value.free_symbols <= {T, _S} else 4
    if not ok or sp.count_ops(value) > budget * MAX_CONJUGATE_OPS:  # stop before simplifying what cannot be used
        return numeric_branch(piece)
    if var is _S:
        value = _radicands_of_one_sign(value, _S, sp.S.Zero, width)
    value = _simplest(value, "simplifying f*")
    if sp.count_ops(value) > budget * MAX_SIMPLIFIED_OPS:
        return numeric_branch(piece)
    if var is _S:
        value, cand = value.subs(_S, s_of_t), cand.subs(_S, s_of_t)
    value, cand = (_radicands_of_one_sign(e, T, lo_t, hi_t) for e in (value, cand))
    ok, tidy = decide("simplifying f*", lambda: _sign_rules(_tidy_lambert(value)))
    value = _depressed(_simplest(tidy if ok else value, "simplifying f*", deep=False))
    # written in t it may grow again: past 4x the substituted budget it is no usable closed form (33 000
    # operations for 3/2 (sqrt(u) - 1/2)^2 - 4 log u); the nested radicals of sqrt(1 + u^2) families (~300) stay
    if sp.count_ops(value) > 4 * budget * MAX_CONJUGATE_OPS:
        return numeric_branch(piece)
    ratio = _simplest(cand, "simplifying (f')^-1", deep=False)
    return _lambert_args(value), _lambert_args(ratio)


def numeric_branch(piece: Piece) -> tuple[sp.Expr, sp.Expr]:
    """f*(t) and u*(t) on the piece as numeric functions (no closed form: see fdiv.inverse)."""
    return piece_conjugate(T, piece.f, piece.lo, piece.hi), slope_inverse(T, piece.df, piece.lo, piece.hi)


#: Operation budgets (SymPy's count_ops) of a usable closed form: u(t); f*(t) = t u(t) - f(u(t)) as substituted,
#: before any simplification (over it, the derivation stops there); f* simplified. Over any of them the branch is
#: numeric: a closed form that long evaluates worse and slower than the numeric root (the catalogue's longest
#: f*, JS-weighted's, is 59 operations substituted and 17 simplified).
MAX_SOLUTION_OPS = 60
MAX_CONJUGATE_OPS = 150
MAX_SIMPLIFIED_OPS = 80


def _usable(cand: sp.Expr) -> bool:
    return (not cand.has(sp.I, sp.CRootOf, sp.RootSum, sp.Integral, sp.Sum)
            and cand.free_symbols <= {T, _S} | {s for s in cand.free_symbols if s.name.endswith("_s")}
            and sp.count_ops(cand) <= MAX_SOLUTION_OPS and not _nested_odd_root(cand))


def _nested_odd_root(e: sp.Expr) -> bool:
    """Cardano's and Ferrari's signature: a root of index >= 3 of an expression that holds another root of a
    variable. Such a u(t) cancels catastrophically (the cube roots of q +- sqrt(q^2 + p^3) nearly cancel as t
    grows). A root of a constant inside is no such sign: (s/6 + sqrt(2)/8)^(-2/5) inverts -6 u^(-5/2) on u < 2,
    and taking it for one sent 2 Max(u - 2, 0) + 4 u^(-3/2) to solve, which ran past its 20 s."""
    return any(p.exp.is_Rational and p.exp.q >= 3 and any(q.exp.is_Rational and not q.exp.is_Integer
                                                             and q.base.free_symbols for q in p.base.atoms(sp.Pow))
               for p in e.atoms(sp.Pow))


def _solvable_shape(df: sp.Expr) -> bool:
    """Whether f'(u) = t has a shape SymPy's solve inverts in closed form: algebraic (no log or exp of u), or one
    logarithm or exponential of u next to at most a constant and one power of u (Lambert's W: log u + 1 - 1/u, e^u
    + u; log(u + 3) + 2u). Anything else (two different logarithms beside a rational term, say) has no such inverse;
    solve would spend seconds finding that out, so the branch is numeric by this rule."""
    kernels = {a for a in sp.expand_log(sp.expand(df), force=True).atoms(sp.log, sp.exp) if a.has(U)}
    if not kernels:
        return True
    if len(kernels) > 1 or df.has(sp.LambertW, sp.Abs, sp.Piecewise):
        return False
    (kernel,) = kernels
    rest = sp.expand(sp.expand_log(sp.expand(df), force=True)).subs(kernel, 0)
    terms = [t for t in sp.Add.make_args(rest) if t.has(U)]
    if not (len(terms) <= 1 and all(t.as_independent(U)[1].is_Pow or t.as_independent(U)[1] == U for t in terms)):
        return False
    if isinstance(kernel, sp.log):
        # Lambert's W needs the power to be of the log's own argument (log u - 1/u^2: u^-2 = e^(-2 log u)), or
        # linear (log(u + 3) + 2u); log(u + 2) - 1/(3 (u + 3)^2) is neither, and solve ran past its limit on it
        for term in terms:
            base, power = term.as_independent(U)[1].as_base_exp()
            if not (sp.expand(base - kernel.args[0]) == 0 or power == 1 and base.is_polynomial(U)
                    and sp.degree(base, U) == 1):
                return False
    return True


def _radicals_over_budget(df: sp.Expr) -> bool:
    """Whether f'(u) = t holds a root of something other than u (sqrt(1 + u^2), sqrt(3 - u)) and, with its roots
    eliminated (resultants), is a polynomial equation of degree 3 or more in u: -4/u^2 + u/sqrt(1 + u^2) = t is
    one of degree 6, -3/2 sqrt(3 - u) - 1/u = t one of degree 3. Its closed form, if solve finds one, is Cardano's
    or worse, and solve ran past its 20 s on both (the derivation was refused): numeric by this rule, which reads
    the equation's shape, not the time solve would take. u/sqrt(1 + u^2) = t (degree 2) is left to solve."""
    if df.has(sp.log, sp.exp, sp.LambertW, sp.Abs, sp.Piecewise) or df.free_symbols != {U}:
        return False
    radicals = sorted({p for p in df.atoms(sp.Pow) if p.base.has(U) and p.exp.is_Rational and not p.exp.is_Integer
                       and not p.base.is_Symbol}, key=sp.default_sort_key)
    if not radicals:
        return False
    # roots of u itself beside them are eliminated too (15/4 sqrt(u - 2) - 1/(3 sqrt(u)) = t is of degree 4; left
    # in, the polynomial test failed and solve ran past its 20 s)
    radicals += sorted({p.base ** (sp.Rational(1, p.exp.q)) for p in df.atoms(sp.Pow)
                        if p.base == U and p.exp.is_Rational and not p.exp.is_Integer}, key=sp.default_sort_key)
    orders = {}
    for r in radicals:
        orders[r.base] = max(orders.get(r.base, 1), r.exp.q)
    if len(orders) >= 2 and math.prod(orders.values()) >= 6:
        # roots of two bases whose orders multiply to 6 or more (sqrt(1 + u^2) beside u^(1/3)): eliminated, an
        # equation of degree 6 or so, and the resultants alone ran past the step's 20 s (seed 31415, index 169,
        # refused); over the budget by this rule, without computing them
        return True

    def degree() -> int:
        e = df - T
        for i, r in enumerate(radicals):
            s = sp.Symbol(f"s{i}", positive=True)
            p, q = r.exp.p, r.exp.q
            e = e.subs(r, s) if p == 1 else e.subs(r, s**p)
            num = sp.numer(sp.together(e))
            e = sp.resultant(sp.expand(num), s**q - r.base, s)
        num = sp.numer(sp.together(e))
        return sp.Poly(sp.expand(num), U).degree()

    ok, n = decide("classifying f'(u) = t", degree, seconds=5)
    return bool(ok) and n >= 3


def _needs_cardano(df: sp.Expr) -> bool:
    """Whether f'(u) = t is a polynomial equation in x = u^(1/k) (denominators cleared) whose degree, over the gcd
    of its exponents, is 3 or more with three terms or more: its roots by radicals are Cardano's or Ferrari's
    (over the budget, and solve needs seconds to find them), so the branch is numeric without asking solve. A rule
    on the equation's shape, so the choice never depends on how long solve would take."""
    import math

    if df.has(sp.log, sp.exp, sp.LambertW, sp.Abs, sp.Piecewise) or df.free_symbols != {U}:
        return False
    dens = [p.exp.q for p in df.atoms(sp.Pow) if p.base.has(U) and p.exp.is_Rational]
    k = math.lcm(*dens) if dens else 1
    x = sp.Symbol("x", positive=True)
    ok, num = decide("classifying f'(u) = t", lambda: sp.numer(sp.together(df.subs(U, x**k) - T)), seconds=5)
    if not ok:
        return False
    try:
        poly = sp.Poly(sp.expand(num), x)
    except sp.PolynomialError:
        return False
    if not all(c.free_symbols <= {T} for c in poly.coeffs()):
        return False
    n = poly.degree()
    if n >= 3:  # shifted by the mean of its roots, a(x + c)^n - b(t) has two terms: (u - 1)^4's f' = t is one root
        a, b = poly.coeff_monomial(x**n), poly.coeff_monomial(x ** (n - 1))
        poly = sp.Poly(sp.expand(poly.as_expr().subs(x, x - b / (n * a))), x)
    exponents = [m for (m,) in poly.monoms()]
    g = math.gcd(*exponents) if any(exponents) else 1
    return len(exponents) >= 3 and max(exponents) // max(g, 1) >= 3


def _cubic_or_more(num: sp.Expr) -> bool:
    """Whether num = 0 is a polynomial equation in u of degree 3 or more with three terms or more: its roots by
    radicals are Cardano's or Ferrari's, over the budget, and solve needs seconds to minutes for them. Two GAN-family
    terms with weights 1/4 and 1/12 give u^4 = z (u + 1)^3 (u + 2) on isolating the log: solve ran past its 20 s."""
    try:
        poly = sp.Poly(sp.expand(num), U)
    except sp.PolynomialError:
        return False
    return poly.degree() >= 3 and len(poly.terms()) >= 3


def _solved(df: sp.Expr, t_of_s: sp.Expr) -> list[sp.Expr]:
    """SymPy's solutions of f'(u) = t, or none when it fails (the numeric branch then takes over). Under the step
    limit, which fails the derivation as a whole: whether a branch is closed or numeric never depends on how long
    solve took (the equations that would take it long, cubics and quartics, never reach it: _needs_cardano)."""
    ok, out = decide("solving f'(u) = t", sp.solve, sp.Eq(df, t_of_s), U)
    return list(out) if ok and isinstance(out, list) else []


def _log_isolated(df: sp.Expr, t_of_s: sp.Expr) -> list[sp.Expr]:
    """f'(u) = m + sum k_i log A_i(u) with rational k_i / k: then prod A_i^(n_i) = exp(N (t - m)/k), an
    algebraic equation in u that solve handles at once (JS-weighted with pi = 3/10 defeats solve otherwise)."""
    def split():
        e = sp.expand(sp.expand_log(sp.expand(df), force=True))
        logs, rest = [], []
        for term in sp.Add.make_args(e):
            coeff, factor = term.as_independent(U, as_Add=False)
            if isinstance(factor, sp.log):
                logs.append((coeff, factor.args[0]))
            else:
                rest.append(term)
        m = sp.Add(*rest)
        if m.has(U):  # (u + 1)/(2 (u/2 + 1/2)) is 1
            m = sp.cancel(sp.together(m))
        if not logs or m.has(U):
            return []
        k = logs[0][0]
        ratios = [sp.nsimplify(c / k) for c, _ in logs]
        if not all(r.is_Rational for r in ratios):
            return []
        n = sp.ilcm(*[r.q for r in ratios])
        z = sp.Symbol("z", positive=True)
        lhs = sp.Mul(*[a ** (r * n) for r, (_, a) in zip(ratios, logs)])
        if _cubic_or_more(sp.numer(sp.together(lhs - z))):
            return []
        roots = sp.solve(sp.Eq(sp.together(lhs), z), U)
        return [r.subs(z, sp.exp(n * (t_of_s - m) / k)) for r in roots]

    ok, out = decide("isolating the logarithm in f'(u) = t", split, seconds=min(step_seconds(), 5))
    return out if ok else []


def _one_power(df: sp.Expr, t_of_s: sp.Expr) -> list[sp.Expr]:
    """f'(u) = c u^p + b: u = ((t - b)/c)^(1/p) at once. solve ran past its 20 s on -9/(4 u^(5/2)) = -s (3/2
    u^(-3/2) was refused)."""
    terms = [x for x in sp.Add.make_args(sp.expand(df)) if x.has(U)]
    if len(terms) != 1:
        return []
    c, power = terms[0].as_independent(U, as_Add=False)
    base, p = power.as_base_exp()
    if base != U or not p.is_Rational or p == 0 or c.has(U):
        return []
    b = sp.expand(df - terms[0])
    return [((t_of_s - b) / c) ** (1 / p)]


def _lambert_log_power(df: sp.Expr, t_of_s: sp.Expr) -> list[sp.Expr]:
    """f'(u) = a + b log u + c u^p (p != 0, 1), with c p/b > 0: w = u^p solves k log w + c w = t - a (k = b/p), so
    w = k/c W(c/k e^((t - a)/k)) on W's principal branch, where its argument is positive. solve ran past its 20 s
    on 17/4 log u - 6/sqrt(u) = t (3 (sqrt(u) - 2)^2 + 17/4 u log u: the derivation was refused)."""
    e = sp.expand(sp.expand_log(sp.expand(df), force=True))
    a, b, c, p = sp.S.Zero, sp.S.Zero, sp.S.Zero, None
    for term in sp.Add.make_args(e):
        coeff, factor = term.as_independent(U, as_Add=False)
        if not factor.has(U):
            a += term
        elif factor == sp.log(U):
            b += coeff
        else:
            base, power = factor.as_base_exp()
            if base != U or not power.is_Rational or power == 0 or p not in (None, power):
                return []
            c, p = c + coeff, power
    if b == 0 or c == 0 or p is None or p == 1 or not (c * p / b).is_positive:
        return []
    k = b / p
    return [(k / c * sp.LambertW(c / k * sp.exp((t_of_s - a) / k))) ** (1 / p)]


def _lambert_linear(df: sp.Expr, t_of_s: sp.Expr) -> list[sp.Expr]:
    """f'(u) = a u + b + c e^(k u) or a u + b + c log(u + d), with a c k > 0 (a c > 0): the principal branch of
    Lambert's W inverts it at once, u = y/a - W(c k/a e^(k y/a))/k (y = t - b), and u + d = c/a W(a/c e^((y + a
    d)/c)). solve finds the same root after some ten seconds (three exponentials of u/4 and a Max made it 30 s)."""
    e = sp.expand(sp.expand_log(sp.expand(df), force=True))
    kernels = [a for a in e.atoms(sp.exp, sp.log) if a.has(U)]
    if len(kernels) != 1:
        return []
    (kernel,) = kernels
    c = e.coeff(kernel)
    rest = sp.expand(e - c * kernel)
    a = rest.coeff(U)
    b = sp.expand(rest - a * U)
    if c.has(U) or a.has(U) or b.has(U) or a == 0 or not kernel.args[0].is_polynomial(U):
        return []
    inner = sp.Poly(kernel.args[0], U)
    if inner.degree() != 1:
        return []
    k, shift = inner.coeff_monomial(U), inner.coeff_monomial(1)
    y = t_of_s - b
    if isinstance(kernel, sp.exp):  # c e^shift e^(k u)
        c = c * sp.exp(shift)
        if not (c * k / a).is_positive:
            return []
        return [y / a - sp.LambertW(c * k / a * sp.exp(k * y / a)) / k]
    if k != 1:  # log(k u + d) = log k + log(u + d/k)
        b, shift = b + c * sp.log(k), shift / k
        y = t_of_s - b
    if not (a / c).is_positive:
        return []
    return [c / a * sp.LambertW(a / c * sp.exp((y + a * shift) / c)) - shift]


def _samples(width) -> list[sp.Rational]:
    width = numeric_form(width)
    if width is None:
        return [sp.Rational(v) for v in ("-3", "-1/2", "0", "1/3", "2", "5")]
    if width == sp.oo:
        return [sp.Rational(v) for v in ("1/10", "1/2", "1", "2", "7")]
    return [sp.nsimplify(width * sp.Rational(k, 7), rational=True) for k in range(1, 7)]


def _is_inverse(cand, piece: Piece, var, t_of_s, samples) -> bool:
    """Numerically: cand(s) is real, inside the piece, and f'(cand(s)) = t(s) at every sample (30 digits)."""
    u_fn, df_fn = mp_function(cand, var), mp_function(piece.df, U)
    t_fn = mp_function(t_of_s, var)
    lo, hi = to_mpf(piece.lo), to_mpf(piece.hi)
    for x in samples:
        u_val = real_value(u_fn, x)
        if u_val is None or not lo < u_val < hi:
            return False
        slope, target = real_value(df_fn, u_val), real_value(t_fn, x)
        if slope is None or target is None or abs(slope - target) > mpmath.mpf(10) ** -20 * (1 + abs(target)):
            return False
    return True


def _radicands_of_one_sign(expr: sp.Expr, var: sp.Symbol, lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    """p(var)^r (r not an integer) with p a polynomial whose factors keep one sign for var in (lo, hi), written as
    the factors' powers: ((6t + 23)^3)^(1/3) is 6t + 23 for t > -23/6. Expanded, f*'s slope there came from a
    cubic in t that cancels to u* = 8e-9 (float32 gave 1.9e-6; seed 17320, index 159)."""
    inside = _inner_point(lo, hi)

    def one_sign(factor: sp.Expr) -> sp.Expr | None:
        """+-1, the sign of the factor on (lo, hi), or None (a root inside, or roots not found)."""
        if sp.degree(factor, var) > 2:
            return None
        for root in sp.roots(sp.Poly(factor, var)):
            if root.is_real is not True:
                continue
            above_lo = lo == -sp.oo or bool(sp.N(root - lo, 30) > 0)
            below_hi = hi == sp.oo or bool(sp.N(hi - root, 30) > 0)
            if above_lo and below_hi:  # a root inside: the factor changes sign there
                return None
        sign = sp.sign(sp.N(factor.subs(var, inside), 30))
        return sign if sign in (1, -1) else None

    def rule(e: sp.Pow) -> sp.Expr:
        base = e.base
        if not base.is_polynomial(var) or sp.degree(base, var) < 2:
            return e
        const, factors = sp.factor_list(base, var)
        if all(k == 1 for _, k in factors):
            return e  # nothing to take out of the root
        signs = [one_sign(f) for f, _ in factors]
        if None in signs:
            return e
        const *= sp.Mul(*(s ** k for s, (_, k) in zip(signs, factors)))
        if not const.is_positive:
            return e
        return const ** e.exp * sp.Mul(*((s * f) ** (k * e.exp) for s, (f, k) in zip(signs, factors)))

    if inside is None:
        return expr
    return expr.replace(lambda e: e.is_Pow and e.exp.is_Rational and not e.exp.is_Integer
                        and e.base.has(var), rule)


def _depressed(expr: sp.Expr) -> sp.Expr:
    """A polynomial in t of degree n >= 2 about the point c that removes its t^(n-1) term, where that is shorter:
    (6t + 23)^4/192000 - 4/3 rather than its expansion, whose slope cancels to 8e-9 next to t = -23/6."""
    if not expr.is_polynomial(T) or expr.free_symbols != {T}:
        return expr
    poly = sp.Poly(expr, T)
    n = poly.degree()
    if n < 2 or not all(c.is_Rational for c in poly.all_coeffs()):
        return expr
    x = sp.Dummy("x")
    c = -poly.nth(n - 1) / (n * poly.LC())
    shifted = sp.Poly(sp.expand(expr.subs(T, x + c)), x)
    form = sp.Add(*(coeff * (T - c) ** k for (k,), coeff in shifted.terms()))
    return form if sp.count_ops(form) < sp.count_ops(expr) else expr


def _inner_point(lo: sp.Expr, hi: sp.Expr) -> sp.Expr | None:
    """A rational point inside (lo, hi), or None where the ends are not numbers."""
    try:
        a = None if lo == -sp.oo else sp.Rational(str(sp.N(lo, 30)))
        b = None if hi == sp.oo else sp.Rational(str(sp.N(hi, 30)))
    except (TypeError, ValueError):
        return None
    if a is None and b is None:
        return sp.S.Zero
    if a is None or b is None:
        return b - 1 if a is None else a + 1
    return (a + b) / 2 if a < b else None


def _real_roots(expr: sp.Expr) -> sp.Expr:
    """Replace principal odd roots b**(p/q) (q odd) by real ones, sign(b)**p * |b|**(p/q)."""
    def is_odd_root(e):
        return e.is_Pow and e.exp.is_Rational and not e.exp.is_Integer and e.exp.q % 2 == 1 and not e.base.is_positive

    return expr.replace(is_odd_root, lambda e: sp.sign(e.base) ** e.exp.p * sp.Abs(e.base) ** e.exp)


def _sign_rules(expr: sp.Expr) -> sp.Expr:
    """sign(x)**(2k) -> 1 and x*sign(x) -> |x|: exact wherever an Abs(x) power factor accompanies them."""
    expr = expr.replace(lambda e: e.is_Pow and isinstance(e.base, sp.sign) and e.exp.is_even, lambda e: sp.Integer(1))
    return sp.expand(expr).replace(
        lambda e: e.is_Mul and any(isinstance(f, sp.sign) and f.args[0] in e.args for f in e.args),
        lambda e: _fold_sign(e))


def _fold_sign(e: sp.Mul) -> sp.Expr:
    for f in e.args:
        if isinstance(f, sp.sign) and f.args[0] in e.args:
            return e / (f * f.args[0]) * sp.Abs(f.args[0])
    return e


def _lambert_args(expr: sp.Expr) -> sp.Expr:
    """Write W's argument as one exponential, W(E*exp(-t)) -> W(exp(1 - t))."""
    return expr.replace(lambda e: isinstance(e, sp.LambertW), lambda e: sp.LambertW(sp.powsimp(e.args[0])))


def _tidy_lambert(expr: sp.Expr) -> sp.Expr:
    """exp(a + W(z)) -> exp(a) z / W(z) and log(W(z)) -> log(z) - W(z) (z > 0): the W(e^(1-t)) form."""
    if not expr.has(sp.LambertW):
        return expr

    def split_exp(e):
        terms = sp.Add.make_args(e.args[0])
        ws = [w for w in terms if isinstance(w, sp.LambertW)]
        rest = sp.Add(*[w for w in terms if not isinstance(w, sp.LambertW)])
        out = sp.exp(rest)
        for w in ws:
            out *= w.args[0] / w
        return out

    expr = expr.replace(lambda e: isinstance(e, sp.exp) and any(isinstance(w, sp.LambertW) for w in sp.Add.make_args(e.args[0])), split_exp)
    expr = sp.expand_log(expr, force=True)
    expr = expr.replace(lambda e: isinstance(e, sp.log) and isinstance(e.args[0], sp.LambertW),
                        lambda e: sp.expand_log(sp.log(e.args[0].args[0]), force=True) - e.args[0])
    return sp.expand(expr)


_HUGE = 10**30  # digits beyond float64's 17 by far: a coefficient of a float constant near its range's ends


def _simplest(expr: sp.Expr, what: str, deep: bool = True) -> sp.Expr:
    """The shortest of a few equivalent forms; simplify() runs under a time limit and is skipped on timeout."""
    forms = [expr, sp.expand(expr)]
    # simplify(), factor() and cancel() on a rational of hundreds of digits (f = u log u * 1e-300 has
    # exp(10^300 t), a polynomial of that degree in exp(t) to them) run past any limit; a rule on the expression,
    # not a timeout, keeps them out, so the form chosen does not depend on the machine's speed
    huge = any(abs(r.p) > _HUGE or r.q > _HUGE for r in expr.atoms(sp.Rational))
    steps = [] if huge else [sp.simplify, sp.factor] if deep else [sp.factor, sp.cancel]
    if expr.has(sp.log) and not huge:
        steps.append(lambda e: sp.simplify(sp.logcombine(e, force=True)))
    for step in steps:
        ok, form = decide(what, step, expr, seconds=4)
        if ok and (expr.has(sp.Piecewise) or not form.has(sp.Piecewise)):
            forms.append(form)
    forms += [sp.powsimp(e) for e in forms]
    forms += [_log_powers_out(e) for e in forms if has_log_of_power(e)]
    # a form over the budget only where every form is: the log of a 32nd power expanded into a rational of degree
    # 64 has no log of a power, and won over the form it came from at 33 000 operations (3/2 (sqrt(u) - 1/2)^2 -
    # 4 log u: 70 ms per evaluation, and the derivation ran out of time in its self-checks)
    return min(forms, key=lambda e: (sp.count_ops(e) > MAX_SIMPLIFIED_OPS, has_log_of_power(e), sp.count_ops(e),
                                     len(str(e))))


def _log_powers_out(e: sp.Expr) -> sp.Expr:
    """log(c b1**x1 b2**x2 ...) -> log(c) + x1 log(b1) + ... where no b**x is a square and the constant c > 0 (then
    each b > 0 wherever the log is real: a product of such powers is positive only if each factor is)."""
    def split(a):
        factors = sp.Mul.make_args(a.args[0])
        const = sp.Mul(*[f for f in factors if not f.free_symbols])
        powers = [f for f in factors if f.free_symbols]
        if not const.is_positive or any(f.is_Pow and f.exp.is_even for f in powers):
            return a
        return sp.log(const) + sp.Add(*[f.exp * sp.log(f.base) if f.is_Pow else sp.log(f) for f in powers])

    return e.replace(lambda a: isinstance(a, sp.log) and bool(a.args[0].free_symbols), split)


def has_log_of_power(e: sp.Expr) -> bool:
    """Whether e holds log(b**x) of a varying b or x, x not an integer (b**x > 0, so x log b is the same number):
    logcombine(force=True) writes x log b so, and b**x overflows long before x log b does ((1 - e t)**(1/e - t)
    for f = e^-u normalised, (1/(1 - e^(2t/5)))**(5/2) for the GAN f weighted by 5/2)."""
    return any(f.is_Pow and bool(f.free_symbols) and not f.exp.is_Integer
               for a in e.atoms(sp.log) for f in sp.Mul.make_args(a.args[0]))


def lambert_of_y_exp_y(expr: sp.Expr) -> sp.Expr:
    """W(y e^y) -> y for y > 0 (W inverts y e^y on y >= -1): makes Lambert-W identities provable.

    Recognises the product form y*exp(y) and the exponential form exp(y + log y) (SymPy folds
    exp(a)*exp(b) into exp(a + b), so e^(-l) * e^(e^(-l)) arrives as exp(-l + exp(-l)))."""
    def rule(w):
        z = sp.powsimp(sp.expand_power_exp(w.args[0]))
        for factor in sp.Mul.make_args(z):
            if isinstance(factor, sp.exp):
                y = sp.simplify(factor.args[0])
                if y.is_positive and sp.simplify(z / factor - y) == 0:
                    return y
        if isinstance(z, sp.exp):
            exponent = z.args[0]
            for y in sp.Add.make_args(exponent):
                if y.is_positive and sp.simplify(sp.expand_log(exponent - y - sp.log(y), force=True)) == 0:
                    return y
        return w

    return expr.replace(lambda e: isinstance(e, sp.LambertW), rule)
