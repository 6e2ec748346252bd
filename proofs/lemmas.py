"""Named inequalities for the proofs: each is a gap >= 0 with the side conditions it needs.

A lemma's gap is a fixed expression of its arguments (never "the step's left side minus its right side"); the
engine checks that a step's gap equals a non-negative weight times the lemma's gap. Side conditions are real
checks (a sign, convexity, an equality, another proof passing) or hypotheses, which the report counts as
assumptions.
"""
from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from .algebra import one_sided
from .engine import (Lemma, Proof, concave, convex, equal, hypothesis, nonnegative, positive, proved,
                     real)


def log_bound(y: sp.Expr) -> Lemma:
    """log y <= y - 1 for y > 0: h(s) = s - 1 - log s has h(1) = 0, h'(1) = 0 and is convex on s > 0."""
    s = sp.Symbol("s", positive=True)
    h = s - 1 - sp.log(s)
    return Lemma("log y <= y - 1", y - 1 - sp.log(y), [
        positive(y, f"y = {y} > 0"),
        equal(h.subs(s, 1), 0, "h(1) = 0 for h(s) = s - 1 - log s"),
        equal(sp.diff(h, s).subs(s, 1), 0, "h'(1) = 0"),
        convex(h, s, "h convex on s > 0 (its stationary point is its minimum)"),
    ])


def jensen(phi: Callable[[sp.Expr], sp.Expr], mean_of_x: sp.Expr, mean_of_phi: sp.Expr, var: sp.Symbol,
           averaging: str) -> Lemma:
    """phi(E X) >= E phi(X) for concave phi (averaging over a probability distribution): gap
    phi(mean_of_x) - mean_of_phi, with phi's concavity on var's domain checked."""
    return Lemma(f"Jensen (concave {phi(var)}, {averaging})", phi(mean_of_x) - mean_of_phi,
                 [concave(phi(var), var, f"{phi(var)} concave for {var} in its domain")])


def supporting_line(f: sp.Expr, var: sp.Symbol, u: sp.Expr, at: sp.Expr, slope: sp.Expr) -> Lemma:
    """A convex f lies above its supporting lines: f(u) >= f(a) + g (u - a) for a subgradient g at a
    (g = f'(a) where f is differentiable; f'(a-) <= g <= f'(a+) at a kink)."""
    df = sp.diff(f, var)
    left, right = one_sided(df, var, at, "-"), one_sided(df, var, at, "+")  # f'(at) where f is smooth there
    if left == right:
        sub = [equal(slope, left, f"g = {slope} is f'({at})")]
    else:
        sub = [nonnegative(slope - left, f"g = {slope} >= f'({at}-) = {left}"),
               nonnegative(right - slope, f"g = {slope} <= f'({at}+) = {right}")]
    return Lemma(f"supporting line of the convex f = {f} at {var} = {at}",
                 f.subs(var, u) - f.subs(var, at) - slope * (u - at),
                 [convex(f, var, f"f = {f} convex on {var} > 0"), *sub])


def supporting_line_generic(f: sp.Function, u: sp.Expr, at: sp.Expr, slope: sp.Expr) -> Lemma:
    return Lemma("supporting line of a convex f", f(u) - f(at) - slope * (u - at),
                 [hypothesis(f"f convex with a subgradient {slope} at {at} (hypothesis of an f-divergence)")])


def fenchel_young_generic(f: sp.Function, f_star: sp.Function, u: sp.Expr, t: sp.Expr) -> Lemma:
    return Lemma("Fenchel-Young: f(u) + f*(t) >= u t", f(u) + f_star(t) - u * t,
                 [hypothesis("f* is the convex conjugate of f: f*(t) = sup_u (u t - f(u)) >= u t - f(u)")])


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


def square(e: sp.Expr) -> Lemma:
    return Lemma("a square is non-negative", e**2, [real(e, f"{e} is real")])


def abs_bound(a: sp.Expr, s: sp.Expr, bound_text: str | None = None) -> Lemma:
    """|a| - s a >= 0 when |s| <= 1: checked as 1 - s^2 >= 0, or a hypothesis when bound_text says why."""
    bound = hypothesis(bound_text) if bound_text else nonnegative(1 - s**2, f"|{s}| <= 1")
    return Lemma("s a <= |a| for |s| <= 1", sp.Abs(a) - s * a, [real(a), bound])


def convex_combination(c: sp.Expr, var: sp.Symbol, a: sp.Expr, b: sp.Expr, lam: sp.Expr) -> Lemma:
    """c(lam a + (1 - lam) b) <= lam c(a) + (1 - lam) c(b) for convex c and 0 <= lam <= 1."""
    return Lemma(f"convexity of {c}", lam * c.subs(var, a) + (1 - lam) * c.subs(var, b)
                 - c.subs(var, lam * a + (1 - lam) * b),
                 [convex(c, var), nonnegative(lam, f"lambda = {lam} >= 0"),
                  nonnegative(1 - lam, f"1 - lambda = {1 - lam} >= 0")])


def by_proof(name: str, gap: sp.Expr, factory: Callable[[], Proof]) -> Lemma:
    """An inequality gap >= 0 proved elsewhere in this report (the condition runs that proof)."""
    return Lemma(name, gap, [proved(factory, f"proved above: {name}")])


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


__all__ = ["abs_bound", "by_proof", "convex_combination", "fenchel_young", "fenchel_young_generic",
           "jensen", "log_bound", "log_taylor", "square", "supporting_line", "supporting_line_generic"]
