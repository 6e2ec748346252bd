"""Named inequalities and rewrite rules for the proofs, each built from its objects, and the axioms.

A lemma is a gap >= 0 computed from its arguments (the function, the random quantity, the point: never two
independently written sides) with the side conditions it needs; the engine builds it again from the same
arguments when it checks a step, so a lemma cannot differ from what its objects give. A rule rewrites both
sides of an equality step (linearity of E, Gaussian moments, an evaluation by SymPy, ...).

AXIOMS is the one list of the standard results the proofs take without proof: each lemma or rule that states
one names it, and the summary of `python -m proofs` counts the steps that rest on one. Besides these, the
engine itself uses the linearity and monotonicity of the integral, Fubini for product integrands, and that a
declared density integrates to 1 (see proofs.engine).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sympy as sp

from .algebra import one_sided, sign_holds
from .engine import (E, Lemma, Rule, concave, convex, equal, hypothesis, nonnegative, positive, real,
                     registered, strictly_convex, strictly_convex_at)

AXIOMS: dict[str, str] = {
    "squared norm": "the squared (Frobenius) norm tr(v'v) of a real vector or matrix v is non-negative, and 0 "
                    "only at v = 0",
    "linearity of expectation": "E(a X + b Y + c) = a E X + b E Y + c for constants a, b, c, and E of a finite "
                                "sum is the sum of the expectations (also entrywise for random vectors)",
    "identically distributed draws": "draws with one law have the same expectations: E g(Y_i) = E g(Y_1); for "
                                     "i.i.d. draws a pair (Y_s, Y_t) has the law of (Y_1, Y_1) if s = t and of "
                                     "(Y_1, Y_2) if s != t",
    "independence": "independent draws with densities p and q have the joint density p(x) q(y)",
    "law of the unconscious statistician": "for Z with density q and W = h(Z): E g(W) = integral of q(z) g(h(z))",
    "product measure": "under a product law, the expectation of a function of one coordinate is its "
                       "expectation under that coordinate's marginal",
    "exchangeability": "any k of n i.i.d. draws have the joint law of the first k",
    "differentiation under the integral sign": "d/dtheta of an integral is the integral of the derivative "
                                               "(Leibniz; the derivative dominated by an integrable function)",
    "integration by parts": "the integral of g H' is -(the integral of g' H) when g H vanishes at +-oo",
    "a density is the derivative of its CDF": "F_Z' = p_Z where Z has a density (fundamental theorem of "
                                              "calculus)",
    "finite sums": "a finite sum is linear, splits off its first term (re-indexed), and sum_s delta_st h(s) = "
                   "h(t) for t in its range",
    "Bayes' rule": "q(a|b) q(b) = q(b|a) q(a) for positive densities, and q(x_t|x_(t-1), x_0) = q(x_t|x_(t-1)) "
                   "for a Markov chain",
    "zero integral of a non-negative function": "a non-negative function with integral 0 (expectation 0) "
                                                "vanishes almost everywhere (almost surely)",
    "singular values": "C C' and C' C have the same eigenvalues, so tr (C C')^(1/2) = tr (C' C)^(1/2) (both are "
                      "the sum of C's singular values)",
}


def axiom(name: str):
    if name not in AXIOMS:
        raise KeyError(f"'{name}' is not one of the named axioms")
    return registered(axiom=name)


lemma = registered()  # a lemma or rule that is not an axiom

IID = "the draws are independent and identically distributed, with the density of the statement"
# the hypotheses of the generic f-divergence results, as premises (Proof(given=[...])) use them
CONVEX_F = "f is convex on u > 0 with a subgradient g at u = 1"
STRICT_F = "f is strictly convex at u = 1: f(u) > f(1) + g (u - 1) for every u != 1"
CONJUGATE = "f* is the convex conjugate of f: f*(t) = sup_u (u t - f(u)) >= u t - f(u)"


# ---------------------------------------------------------------------------------------------- averages
@dataclass(frozen=True)
class Average:
    """A probability average: the expectation E, or the uniform average over index = lo..hi."""
    index: sp.Symbol | None = None
    lo: sp.Expr | None = None
    hi: sp.Expr | None = None

    def __call__(self, e: sp.Expr) -> sp.Expr:
        if self.index is None:
            return E(e)
        return sp.Sum(e, (self.index, self.lo, self.hi)) / (self.hi - self.lo + 1)

    def __str__(self) -> str:
        return "the expectation" if self.index is None else f"the uniform average over {self.index} = " \
                                                             f"{self.lo}..{self.hi}"


EXPECTATION = Average()


def uniform(index: sp.Symbol, lo, hi) -> Average:
    return Average(index, sp.S(lo), sp.S(hi))


# --------------------------------------------------------------------------------------------------- lemmas
@lemma
def log_bound(y: sp.Expr) -> Lemma:
    """log y <= y - 1 for y > 0, with equality exactly at y = 1: h(s) = s - 1 - log s has h(1) = 0, h'(1) = 0
    and is strictly convex on s > 0."""
    s = sp.Symbol("s", positive=True)
    h = s - 1 - sp.log(s)
    return Lemma("log y <= y - 1", y - 1 - sp.log(y), [
        positive(y, f"y = {y} > 0"),
        equal(h.subs(s, 1), 0, "h(1) = 0 for h(s) = s - 1 - log s"),
        equal(sp.diff(h, s).subs(s, 1), 0, "h'(1) = 0"),
        strictly_convex(h, s, "h strictly convex on s > 0 (its stationary point is its only zero)"),
    ], equality=(y, sp.S.One))


@lemma
def jensen(phi: Callable[[sp.Expr], sp.Expr], X: sp.Expr, average: Average, var: sp.Symbol) -> Lemma:
    """phi(avg X) >= avg phi(X) for concave phi and a probability average avg: the gap phi(avg X) - avg phi(X)
    is built from phi and X, with phi's concavity on var's domain checked and X in that domain."""
    conditions = [concave(phi(var), var, f"{phi(var)} concave for {var} in its domain")]
    if var.is_positive:
        conditions.append(positive(X, f"X = {X} > 0 (in the domain)"))
    elif var.is_nonnegative:
        conditions.append(nonnegative(X, f"X = {X} >= 0 (in the domain)"))
    return Lemma(f"Jensen (concave {phi(var)}, {average})", phi(average(X)) - average(phi(X)), conditions)


@lemma
def supporting_line(f: sp.Expr, var: sp.Symbol, u: sp.Expr, at: sp.Expr, slope: sp.Expr,
                    strict: bool = False) -> Lemma:
    """A convex f lies above its supporting lines: f(u) >= f(a) + g (u - a) for a subgradient g at a (g = f'(a)
    where f is differentiable; f'(a-) <= g <= f'(a+) at a kink). strict: equality exactly at u = a, which needs
    f''(a) > 0 where f is smooth at a, or g strictly between the one-sided slopes at a kink."""
    df = sp.diff(f, var)
    left, right = one_sided(df, var, at, "-"), one_sided(df, var, at, "+")  # f'(at) where f is smooth there
    if left == right:
        sub = [equal(slope, left, f"g = {slope} is f'({at})")]
        if strict:
            sub.append(strictly_convex_at(f, var, at, f"f''({at}) > 0: strictly convex at {at}"))
    elif strict:
        sub = [positive(slope - left, f"g = {slope} > f'({at}-) = {left}"),
               positive(right - slope, f"g = {slope} < f'({at}+) = {right}")]
    else:
        sub = [nonnegative(slope - left, f"g = {slope} >= f'({at}-) = {left}"),
               nonnegative(right - slope, f"g = {slope} <= f'({at}+) = {right}")]
    return Lemma(f"supporting line of the convex f = {f} at {var} = {at}",
                 f.subs(var, u) - f.subs(var, at) - slope * (u - at),
                 [convex(f, var, f"f = {f} convex on {var} > 0"), *sub], equality=(u, at) if strict else None)


@lemma
def supporting_line_generic(f: sp.Function, u: sp.Expr, at: sp.Expr, slope: sp.Expr, strict: bool = False) -> Lemma:
    """f(u) >= f(a) + g (u - a) for a generic convex f with subgradient g at a (a hypothesis); strict: with
    equality exactly at u = a (f strictly convex at a, a hypothesis)."""
    conditions = [hypothesis(CONVEX_F)] + ([hypothesis(STRICT_F)] if strict else [])
    return Lemma("supporting line of a convex f", f(u) - f(at) - slope * (u - at), conditions,
                 equality=(u, at) if strict else None)


@lemma
def fenchel_young_generic(f: sp.Function, f_star: sp.Function, u: sp.Expr, t: sp.Expr) -> Lemma:
    return Lemma("Fenchel-Young: f(u) + f*(t) >= u t", f(u) + f_star(t) - u * t, [hypothesis(CONJUGATE)])


@lemma
def fenchel_young(f: sp.Expr, f_star: sp.Expr, inverse: sp.Expr, u_sym: sp.Symbol, t_sym: sp.Symbol,
                  u: sp.Expr, t: sp.Expr, t_inside: sp.Expr) -> Lemma:
    """f(u) + f*(t) >= u t for a concrete f, from the tangent line at r = (f')^-1(t): f(u) >= f(r) + t (u - r),
    and f*(t) = t r - f(r). `inverse` is r(t); `t_inside` a point of the critic range written through a
    positive symbol, where the conditions are checked."""
    r = inverse.subs(t_sym, t_inside)
    fp = sp.diff(f, u_sym)
    return Lemma("Fenchel-Young from the tangent line at (f')^-1(t)",
                 f.subs(u_sym, u) + f_star.subs(t_sym, t) - u * t, [
                     convex(f, u_sym, f"f = {f} convex on u > 0"),
                     equal(fp.subs(u_sym, r), t_inside, f"f'(r(t)) = t for r(t) = {inverse}"),
                     equal(f_star.subs(t_sym, t_inside), t_inside * r - f.subs(u_sym, r),
                           f"f*(t) = {f_star} equals t r(t) - f(r(t)) (fdiv's conjugate at the maximiser)"),
                 ])


@lemma
def tangent_line(f: sp.Expr, var: sp.Symbol, u: sp.Expr, at: sp.Expr) -> Lemma:
    """f(u) >= f(a) + f'(a) (u - a) for f convex on var's domain and a point a of it (the slope is f'(a))."""
    return Lemma(f"tangent line of the convex f at {at}",
                 f.subs(var, u) - f.subs(var, at) - sp.diff(f, var).subs(var, at) * (u - at),
                 [convex(f, var, f"f = {f} convex on {var} > 0")])


@lemma
def square(e: sp.Expr) -> Lemma:
    """e^2 >= 0 for real e, with equality exactly at e = 0."""
    return Lemma("a square is non-negative", e**2, [real(e, f"{e} is real")], equality=(e, sp.S.Zero))


@axiom("squared norm")
def squared_norm(v: sp.MatrixExpr) -> Lemma:
    """tr(v'v) >= 0 for a real vector or matrix v (matrix symbols: the entries' reality is the statement's), with
    equality exactly at v = 0."""
    return Lemma("a squared norm is non-negative", sp.Trace(v.T * v), [], equality=(v, sp.ZeroMatrix(*v.shape)))


@lemma
def abs_bound(a: sp.Expr, s: sp.Expr, bound_text: str | None = None) -> Lemma:
    """|a| - s a >= 0 when |s| <= 1: checked as 1 - s^2 >= 0, or a hypothesis when bound_text says why."""
    s = sp.S(s)
    bound = hypothesis(bound_text) if bound_text else nonnegative(1 - s**2, f"|{s}| <= 1")
    return Lemma("s a <= |a| for |s| <= 1", sp.Abs(a) - s * a, [real(a), bound])


@lemma
def below_abs(a: sp.Expr) -> Lemma:
    """a <= |a| for real a."""
    return Lemma("a <= |a|", sp.Abs(a) - a, [real(a, f"{a} is real")])


@lemma
def lipschitz(f: sp.Function, a: sp.Expr, b: sp.Expr, constant: sp.Expr, text: str) -> Lemma:
    """f(a) - f(b) <= K |a - b| for a K-Lipschitz f (the hypothesis `text`); equality exactly when
    f(a) - f(b) = K |a - b|."""
    constant = sp.S(constant)
    return Lemma(f"{constant}-Lipschitz: f(a) - f(b) <= {constant} |a - b|",
                 constant * sp.Abs(a - b) - (f(a) - f(b)), [hypothesis(text), nonnegative(constant)],
                 equality=(f(a) - f(b), constant * sp.Abs(a - b)))


@lemma
def lipschitz_abs(f: sp.Function, a: sp.Expr, b: sp.Expr, constant: sp.Expr, text: str) -> Lemma:
    """|f(a) - f(b)| <= K |a - b| for a K-Lipschitz f (the hypothesis `text`)."""
    constant = sp.S(constant)
    return Lemma(f"{constant}-Lipschitz: |f(a) - f(b)| <= {constant} |a - b|",
                 constant * sp.Abs(a - b) - sp.Abs(f(a) - f(b)), [hypothesis(text), nonnegative(constant)])


@lemma
def bounded_product(v: sp.Expr, w: sp.Expr, bound: sp.Expr, text: str) -> Lemma:
    """|v| |w| <= c^2 when |v| <= c and |w| <= c (the hypothesis `text`, e.g. clipped weights)."""
    return Lemma("|v| |w| <= c^2 for |v|, |w| <= c", bound**2 - sp.Abs(v) * sp.Abs(w),
                 [hypothesis(text), positive(bound, f"c = {bound} > 0")])


@lemma
def convex_combination(c: sp.Expr, var: sp.Symbol, a: sp.Expr, b: sp.Expr, lam: sp.Expr) -> Lemma:
    """c(lam a + (1 - lam) b) <= lam c(a) + (1 - lam) c(b) for convex c and 0 <= lam <= 1."""
    return Lemma(f"convexity of {c}", lam * c.subs(var, a) + (1 - lam) * c.subs(var, b)
                 - c.subs(var, lam * a + (1 - lam) * b),
                 [convex(c, var), nonnegative(lam, f"lambda = {lam} >= 0"),
                  nonnegative(1 - lam, f"1 - lambda = {1 - lam} >= 0")])


@lemma
def convex_combination_generic(c: sp.Function, a: sp.Expr, b: sp.Expr, lam: sp.Expr, text: str) -> Lemma:
    """c(lam a + (1 - lam) b) <= lam c(a) + (1 - lam) c(b) for a generic convex c (the hypothesis `text`)."""
    return Lemma("convexity of c", lam * c(a) + (1 - lam) * c(b) - c(lam * a + (1 - lam) * b),
                 [hypothesis(text), nonnegative(lam, f"lambda = {lam} >= 0"),
                  nonnegative(1 - lam, f"1 - lambda = {1 - lam} >= 0")])


@lemma
def log_taylor(y: sp.Expr, c: sp.Expr, lower_text: str) -> Lemma:
    """-log y - (1 - y) <= (y - 1)^2 / (2 c^2) for y >= c with 0 < c <= 1.

    g(s) = (s - 1)^2/(2 c^2) + log s + 1 - s has g(1) = 0 and (s - 1) g'(s) = (s - 1)^2 (s - c^2)/(c^2 s) >= 0
    for s >= c >= c^2: g falls to its minimum at s = 1."""
    s, k, r = sp.Symbol("s", positive=True), sp.Symbol("k", positive=True), sp.Symbol("r", nonnegative=True)
    cc = 1 / (1 + r)  # 0 < c <= 1
    g = (s - 1) ** 2 / (2 * cc**2) + sp.log(s) + 1 - s
    return Lemma("-log y - (1 - y) <= (y - 1)^2/(2 c^2) for y >= c, 0 < c <= 1",
                 (y - 1) ** 2 / (2 * c**2) + sp.log(y) + 1 - y, [
                     equal(g.subs(s, 1), 0, "g(1) = 0"),
                     nonnegative(sp.factor((s - 1) * sp.diff(g, s)).subs(s, cc + k),
                                 "(s - 1) g'(s) >= 0 for s = c + k, k > 0, c = 1/(1 + r) in (0, 1]"),
                     hypothesis(lower_text),
                 ])


@lemma
def indicator_bound(Z: sp.Expr, a: sp.Expr) -> Lemma:
    """Z >= a 1[Z >= a] for Z >= 0 and a > 0 (the pointwise inequality behind Markov's): checked on the two
    cases z = a + s (the indicator is 1) and z = a s/(1 + s) < a (it is 0), s > 0."""
    z, s = sp.Symbol("z", nonnegative=True), sp.Symbol("s", positive=True)
    h = z - a * sp.Heaviside(z - a, 1)
    return Lemma("Z >= a 1[Z >= a] for Z >= 0", Z - a * sp.Heaviside(Z - a, 1), [
        nonnegative(Z, f"Z = {Z} >= 0"), positive(a, f"a = {a} > 0"),
        nonnegative(h.subs(z, a + s), "z = a + s >= a: z - a >= 0"),
        nonnegative(h.subs(z, a * s / (1 + s)), "z = a s/(1 + s) < a: z >= 0"),
    ])


# ---------------------------------------------------------------------------------------------------- rules
@lemma
def evaluate(name: str = "evaluate") -> Rule:
    """SymPy evaluates what the step shows unevaluated (an integral, a finite sum, a determinant, a series)."""
    return Rule(name, lambda e: e.doit(), "evaluation")


def _random_part(e: sp.Expr, random_atoms) -> bool:
    return any(e.has(a) for a in random_atoms)


@axiom("linearity of expectation")
def linearity(random_atoms: Sequence, expand: bool = True) -> Rule:
    """E(a X + b Y + c) -> a E(X) + b E(Y) + c and E(Sum(X_t, (t, 1, T))) -> Sum(E(X_t), ...), where a, b, c do
    not involve the random atoms (applied functions such as w(i), X(t), eps). expand=False: only constant
    factors come out of each term (the term factored, not expanded)."""
    atoms = tuple(random_atoms)

    def constant_part(term: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
        """term = c * r with c free of the random atoms, without expanding (sums put over one denominator)."""
        if not _random_part(term, atoms):
            return term, sp.S.One
        if isinstance(term, sp.Mul):
            c, r = sp.S.One, sp.S.One
            for f in term.args:
                fc, fr = constant_part(f)
                c, r = c * fc, r * fr
            return c, r
        if isinstance(term, sp.Pow) and term.exp.is_integer:
            c, r = constant_part(term.base)
            return c**term.exp, r**term.exp
        if isinstance(term, sp.Add):
            together = sp.together(term)
            if together != term and not isinstance(together, sp.Add):
                return constant_part(together)
        return sp.S.One, term

    def split(arg: sp.Expr) -> sp.Expr:
        if not expand:
            return sp.Add(*[c * E(r) if r != 1 else c for c, r in map(constant_part, sp.Add.make_args(arg))])
        arg = sp.expand(arg)
        if isinstance(arg, sp.Sum):
            return sp.Sum(split(arg.function), *arg.limits)
        out = sp.S.Zero
        for term in sp.Add.make_args(arg):
            const = sp.Mul(*[f for f in sp.Mul.make_args(term) if not _random_part(f, atoms)])
            rand = term / const
            if rand == 1:
                out += const
            elif isinstance(rand, sp.Sum):
                out += const * sp.Sum(split(rand.function), *rand.limits)
            else:
                out += const * E(rand)
        return out

    return Rule("linearity" if expand else "constants out of E",
                lambda e: e.replace(lambda z: isinstance(z, E), lambda z: split(z.args[0])), "axiom")


@axiom("identically distributed draws")
def identically_distributed(op, index: sp.Symbol) -> Rule:
    """op(Y_i) -> op(Y_1) for every i (op = E or Var of identically distributed draws), then sums are done."""
    return Rule(f"identically distributed: {op}(Y_{index}) = {op}(Y_1)",
                lambda e: e.replace(lambda y: isinstance(y, op), lambda y: op(y.args[0].subs(index, 1))).doit(),
                "axiom")


@axiom("law of the unconscious statistician")
def lotus(draw: sp.Expr, value: sp.Expr, density: sp.Expr, var: sp.Symbol) -> Rule:
    """E g(draw) -> integral of density(var) g(value) over var, where draw = value(Z) with Z ~ density: every
    E(...) whose argument involves `draw` and no other random quantity."""
    def rule(e: sp.Expr) -> sp.Expr:
        return e.replace(lambda z: isinstance(z, E) and z.args[0].has(draw),
                         lambda z: sp.Integral(density * z.args[0].xreplace({draw: value}), (var, -sp.oo, sp.oo)))
    return Rule(f"{draw} = {value} with {var} ~ {density}", rule, "axiom")


@axiom("identically distributed draws")
def iid_pairs(draw: sp.Function, s: sp.Symbol, t: sp.Symbol) -> Rule:
    """E h(X_s, X_t) -> delta_st E h(X_1, X_1) + (1 - delta_st) E h(X_1, X_2) for i.i.d. draws X_1, X_2, ..."""
    def rule(e: sp.Expr) -> sp.Expr:
        def split(z):
            arg = z.args[0]
            same = arg.xreplace({draw(s): draw(1), draw(t): draw(1)})
            other = arg.xreplace({draw(s): draw(1), draw(t): draw(2)})
            return sp.KroneckerDelta(s, t) * E(same) + (1 - sp.KroneckerDelta(s, t)) * E(other)
        return e.replace(lambda z: isinstance(z, E) and z.args[0].has(draw(s)) and z.args[0].has(draw(t)), split)
    return Rule(f"i.i.d. pairs: ({draw}({s}), {draw}({t})) as ({draw}(1), {draw}(1)) or ({draw}(1), {draw}(2))",
                rule, "axiom")


@axiom("independence")
def independent_pair(first: sp.Expr, second: sp.Expr, density: sp.Function, x: sp.Symbol, y: sp.Symbol) -> Rule:
    """E h(first, second) -> the double integral of h(x, y) p(x) p(y) for independent draws with density p."""
    def rule(e: sp.Expr) -> sp.Expr:
        return e.replace(lambda z: isinstance(z, E) and z.args[0].has(first) and z.args[0].has(second),
                         lambda z: sp.Integral(z.args[0].xreplace({first: x, second: y}) * density(x) * density(y),
                                               (x, -sp.oo, sp.oo), (y, -sp.oo, sp.oo)))
    return Rule(f"{first}, {second} independent with density {density}", rule, "axiom")


@axiom("finite sums")
def square_of_sum(index: sp.Symbol, other: sp.Symbol) -> Rule:
    """(sum over index of a_index)^2 -> the double sum over (other, index) of a_other a_index."""
    def rule(e):
        def square(z):
            total = z.base
            return sp.Sum(sp.Sum(total.function.xreplace({index: other}) * total.function, total.limits[0]),
                          (other, *total.limits[0][1:]))
        return e.replace(lambda z: isinstance(z, sp.Pow) and z.exp == 2 and isinstance(z.base, sp.Sum)
                         and z.base.limits[0][0] == index, square)
    return Rule("the square of a finite sum is the double sum of the products", rule, "axiom")


@axiom("differentiation under the integral sign")
def leibniz() -> Rule:
    return Rule("differentiate under the integral", lambda e: e.replace(
        lambda z: isinstance(z, sp.Derivative), lambda z: z.doit(deep=False)), "axiom")


@axiom("integration by parts")
def integration_by_parts(var: sp.Symbol) -> Rule:
    """The integral of g H' becomes -(the integral of g' H): each term of the integrand holds one derivative."""
    def rule(z: sp.Integral) -> sp.Expr:
        out = sp.S.Zero
        for term in sp.Add.make_args(sp.expand(z.function)):
            ders = [d for d in sp.Mul.make_args(term) if isinstance(d, sp.Derivative)]
            if len(ders) != 1:
                return z
            rest = term / ders[0]
            out += -sp.Integral(sp.diff(rest, var) * ders[0].expr, z.limits[0])
        return out
    return Rule("integration by parts (boundary terms vanish)",
                lambda e: e.replace(lambda z: isinstance(z, sp.Integral), rule), "axiom")


@axiom("a density is the derivative of its CDF")
def cdf_derivative(cdf: sp.Function, density: sp.Function) -> Rule:
    def rule(e: sp.Expr) -> sp.Expr:
        e = e.replace(lambda y: isinstance(y, sp.Subs) and isinstance(y.expr, sp.Derivative)
                      and y.expr.expr.func == cdf, lambda y: density(y.point[0]))
        return e.replace(lambda y: isinstance(y, sp.Derivative) and y.expr.func == cdf,
                         lambda y: density(y.expr.args[0]))
    return Rule(f"{cdf}' = {density}", rule, "axiom")


@axiom("exchangeability")
def exchangeable(draw: sp.Expr, same_law: sp.Expr) -> Rule:
    """E h(draw) -> E h(same_law): `draw` (e.g. the mean of k of the k + 1 weights other than the i-th) has the
    joint law of `same_law` (the mean of the first k), since any k i.i.d. draws have the law of the first k."""
    return Rule(f"{draw} has the law of {same_law}", lambda e: e.replace(
        lambda z: isinstance(z, E) and z.args[0].has(draw), lambda z: E(z.args[0].xreplace({draw: same_law}))).doit(),
        "axiom")


@lemma
def abbreviate(pairs: tuple) -> Rule:
    """Name expressions by symbols (old -> new, each declared in the proof's `names`): the symbols carry what
    the statement says of the expressions (e.g. det A real and non-zero)."""
    rule = dict(pairs)
    return Rule("names: " + ", ".join(f"{o} = {n}" for o, n in pairs), lambda e: e.xreplace(rule), "definition",
                definition=pairs)


@lemma
def replace_product(run: tuple, new: sp.Basic) -> Rule:
    """A matrix product named in the proof's `names` (the product of `run` -> new): replaced where it occurs as a
    node, as consecutive factors of a longer product, or after rotating a trace (the trace is cyclic)."""
    old = sp.MatMul(*run) if len(run) > 1 else run[0]
    # a power (M**2) is one factor of a product: pass it as a run of one; the inverse of the product (the
    # factors inverted, in reverse order) is replaced by the inverse of `new`
    runs = [(tuple(run), new), (tuple(sp.Inverse(f).doit() for f in reversed(run)), sp.Inverse(new).doit())]

    def in_product(m: sp.MatMul) -> sp.Basic:
        coeff, mats = m.as_coeff_matrices()
        for seq, value in runs:
            k = len(seq)
            for i in range(len(mats) - k + 1):
                if tuple(mats[i:i + k]) == seq:
                    return coeff * sp.MatMul(*mats[:i], value, *mats[i + k:]).doit()
        return m

    def in_trace(t: sp.Trace) -> sp.Basic:
        if not isinstance(t.arg, sp.MatMul):
            return t
        coeff, mats = t.arg.as_coeff_matrices()
        for i in range(len(mats)):
            rotated = sp.MatMul(*(mats[i:] + mats[:i]))
            out = in_product(rotated)
            if out != rotated:
                return coeff * sp.Trace(out).doit()
        return t

    def rule(e: sp.Basic) -> sp.Basic:
        e = e.xreplace({old: new})
        e = e.replace(lambda z: isinstance(z, sp.Trace), in_trace)
        return e.replace(lambda z: isinstance(z, sp.MatMul), in_product)
    return Rule(f"{old} = {new}", rule, "definition", definition=((old, new),))


@lemma
def equal_laws(first: sp.Tuple, second: sp.Tuple) -> Rule:
    """Two random pairs with one law (declared in the proof's `names`, first -> second): E h(first) = E h(second)
    for every h, so inside E each pair is replaced by the other (whichever occurs)."""
    forward = dict(zip(first, second))
    backward = dict(zip(second, first))

    def rule(e: sp.Expr) -> sp.Expr:
        def swap(z):
            arg = z.args[0]
            return E(arg.xreplace(forward)) if arg.has(*first) else E(arg.xreplace(backward))
        return e.replace(lambda z: isinstance(z, E) and (z.args[0].has(*first) or z.args[0].has(*second)), swap)
    return Rule(f"{tuple(first)} and {tuple(second)} have one law", rule, "definition", definition=((first, second),))


@lemma
def min_max_by_sign() -> Rule:
    """Min and Max decided argument by argument where the sign of the difference of two arguments is proved
    (sign_holds, under the symbols' assumptions); undecided ones are left as they are."""
    def pick(z, keep_smaller: bool):
        args = list(z.args)
        changed = True
        while changed and len(args) > 1:
            changed = False
            for i in range(len(args)):
                for j in range(len(args)):
                    if i != j and sign_holds(args[j] - args[i], ">="):  # args[i] <= args[j]
                        args.pop(j if keep_smaller else i)
                        changed = True
                        break
                if changed:
                    break
        return args[0] if len(args) == 1 else z.func(*args)

    return Rule("min and max decided by the proved sign of the difference of their arguments",
                lambda e: e.replace(lambda z: isinstance(z, (sp.Min, sp.Max)), lambda z: pick(z, isinstance(z, sp.Min))),
                "evaluation")


@axiom("singular values")
def singular_values(tr_sqrt: sp.Function) -> Rule:
    """tr_sqrt(C C') -> tr_sqrt(C' C): tr (C C')^(1/2) = tr (C' C)^(1/2), where the argument is a product that
    splits into a factor C followed by its transpose."""
    def canonical(z):  # tr_sqrt(C C') and tr_sqrt(C' C) both become the one of the two that prints first
        arg = z.args[0]
        mats = list(arg.args) if isinstance(arg, sp.MatMul) else [arg]
        for j in range(1, len(mats)):
            left, right = sp.MatMul(*mats[:j]).doit(), sp.MatMul(*mats[j:]).doit()
            if sp.Transpose(left).doit() == right:
                other = tr_sqrt(sp.MatMul(right, left).doit())
                return min(z, other, key=str)
        return z
    return Rule("tr (C C')^(1/2) = tr (C' C)^(1/2)", lambda e: e.replace(
        lambda z: isinstance(z, tr_sqrt), canonical), "axiom")


@axiom("finite sums")
def into_sum() -> Rule:
    """a (sum of terms) = sum of (a term), factors kept in their order (non-commuting symbols allowed)."""
    def rule(e):
        return e.replace(lambda z: isinstance(z, sp.Mul) and any(isinstance(f, sp.Sum) for f in z.args),
                         lambda z: sp.Sum(sp.Mul(*[f.function if isinstance(f, sp.Sum) else f for f in z.args]),
                                          *next(f for f in z.args if isinstance(f, sp.Sum)).limits))
    return Rule("a factor into the sum (linearity)", rule, "axiom")


@axiom("finite sums")
def split_first(index: sp.Symbol, lo: sp.Expr, hi: sp.Expr, shift: bool = True) -> Rule:
    """A sum over index = lo..hi is its index = lo term plus the sum over the rest; with shift, the rest
    re-indexed index -> index + 1 (so it runs over lo..hi - 1)."""
    def rule(e):
        def split(z: sp.Sum) -> sp.Expr:
            body = z.function
            rest = sp.Sum(body.subs(index, index + 1), (index, lo, hi - 1)) if shift else \
                sp.Sum(body, (index, lo + 1, hi))
            return body.subs(index, lo) + rest
        return e.replace(lambda z: isinstance(z, sp.Sum) and z.limits[0] == (index, lo, hi), split)
    return Rule(f"the {index} = {lo} term out of the sum", rule, "axiom")


@axiom("finite sums")
def sift() -> Rule:
    """sum over s in 1..T of delta_st h(s) = h(t) for t in 1..T (double sums over the same range)."""
    def rule(z: sp.Sum) -> sp.Expr:
        (s, a, b), (t, c, d) = z.limits[0], z.limits[-1]
        deltas = [f for f in sp.Mul.make_args(z.function) if isinstance(f, sp.KroneckerDelta)]
        if len(z.limits) == 2 and (a, b) == (c, d) and deltas and set(deltas[0].args) == {s, t}:
            return sp.Sum((z.function / deltas[0]).subs(s, t), (t, c, d)).doit()
        return z

    def apply(e):
        flat = e.replace(lambda z: isinstance(z, sp.Sum) and isinstance(z.function, sp.Sum),
                         lambda z: sp.Sum(z.function.function, *z.function.limits, *z.limits))
        return flat.replace(lambda z: isinstance(z, sp.Sum), rule)
    return Rule("sifting: the sum over s of delta_st h(s) is h(t)", apply, "axiom")


__all__ = ["AXIOMS", "Average", "EXPECTATION", "abbreviate", "abs_bound", "axiom", "below_abs", "bounded_product", "cdf_derivative",
           "convex_combination", "convex_combination_generic", "equal_laws", "evaluate", "exchangeable", "fenchel_young", "fenchel_young_generic",
           "identically_distributed", "iid_pairs", "independent_pair", "indicator_bound", "integration_by_parts", "into_sum", "jensen", "leibniz",
           "linearity", "lipschitz", "lipschitz_abs", "log_bound", "log_taylor", "lotus", "min_max_by_sign", "replace_product", "sift", "singular_values", "split_first",
           "square", "square_of_sum", "squared_norm", "supporting_line", "supporting_line_generic", "tangent_line", "uniform"]
