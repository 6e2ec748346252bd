"""f-divergences (notes 000 "Variational Divergence Minimization", 002 §2 and §4, 003 "f-Divergence").

D_f(P||Q) = integral of q f(p/q); p, q positive densities. f is a generic convex function with f(1) = 0 where
the statement is general (its convexity is then a hypothesis), and each catalogue f, derived by fdiv, where the
statement is about the catalogue (convexity and the conjugate are then checked).
"""
from __future__ import annotations

import functools

import sympy as sp

from fdiv.spec import catalogue
from fdiv.derivation.conjugate import T
from fdiv.spec.spec import U

from . import gaussian
from .derivations import derivation
from .algebra import interval_point, one_sided
from .engine import Lemma, Proof, Source, convex, integral, x
from .lemmas import abs_bound, by_proof, fenchel_young_generic, supporting_line, supporting_line_generic

TITLE = "f-divergences and the variational bound"

p = sp.Function("p", positive=True)(x)
q = sp.Function("q", positive=True)(x)
f = sp.Function("f")
f_star = sp.Function("f_star")
Tx = sp.Function("T", real=True)(x)
g = sp.Symbol("g", real=True)  # a subgradient of f at 1


def nonnegative() -> Proof:
    return (Proof("D_f >= 0", Source("003", "Properties of f-Divergence", 95),
                  "D_f(P||Q) >= 0 for every convex f with f(1) = 0: f lies above its supporting line at u = 1, "
                  "f(u) >= f(1) + g (u - 1), and the line integrates to f(1) = 0", densities=[p, q])
            .start(integral(q * f(p / q)))
            .ge(integral(q * (f(1) + g * (p / q - 1))), supporting_line_generic(f, p / q, 1, g), weight=q)
            .eq(f(1), "q (p/q - 1) = p - q integrates to 0; q integrates to 1")
            .eq(0, "f(1) = 0", rewrites=[("hypothesis: f(1) = 0", {f(1): 0})]))


@functools.cache
def nonnegative_catalogue() -> Proof:
    proof = Proof("D_f >= f(1) for every catalogue f", Source("003", "Properties of f-Divergence", 95),
                  "for each f of the catalogue: f is convex (f'' >= 0 on each piece, slopes rising at kinks), so "
                  "f(u) >= f(1) + f'(1) (u - 1); integrating against q gives D_f >= f(1), which is 0 for every "
                  "row but the GAN row (f(1) = -log 4)", densities=[p, q])
    for name in catalogue.names():
        d = derivation(name)
        lemma = supporting_line(d.f, U, p / q, sp.S.One, d.f_prime_at_one)
        proof.start(integral(q * d.f.subs(U, p / q))).ge(d.f_at_one, lemma, f"{name}: supporting line at u = 1",
                                                          weight=q)
    return proof


def zero_when_equal() -> Proof:
    return (Proof("D_f(P||P) = 0", Source("000", "Properties of f-Divergence (ii)", 137),
                  "D_f(P||Q) = 0 when p = q", densities=[p])
            .start(integral(p * f(p / p)))
            .eq(f(1) * integral(p), "p/p = 1")
            .eq(f(1), "p integrates to 1")
            .eq(0, "f(1) = 0", rewrites=[("hypothesis: f(1) = 0", {f(1): 0})]))


def _as_f_divergence(name: str, target: sp.Expr, title: str, source: Source) -> Proof:
    fu = derivation(name).f
    return (Proof(title, source, f"integral of q f(p/q) with f = {fu} equals {target}", densities=[p, q])
            .start(integral(sp.Mul(q, fu.subs(U, p / q), evaluate=False)))
            .eq(target, "the integrands agree pointwise"))


def kl() -> Proof:
    return _as_f_divergence("kl", integral(p * sp.log(p / q)), "KL as an f-divergence",
                            Source("000", "Examples of f-divergence a)", 141))


def js() -> Proof:
    m = (p + q) / 2
    return _as_f_divergence("jsd", integral(p * sp.log(p / m)) / 2 + integral(q * sp.log(q / m)) / 2,
                            "JS (1/2 convention) as an f-divergence", Source("000", "Examples of f-divergence b)", 154))


def tv() -> Proof:
    return _as_f_divergence("total-variation", integral(sp.Abs(p - q)) / 2, "Total variation as an f-divergence",
                            Source("000", "Examples of f-divergence c)", 158))


def kl_not_symmetric() -> Proof:
    """KL(N(0,1)||N(1,4)) against KL(N(1,4)||N(0,1)): the log-ratio is a quadratic, so each KL is a sum of
    Gaussian moments."""
    p1, p2 = gaussian.gaussian(x, 0, 1), gaussian.gaussian(x, 1, 4)
    backward = gaussian.kl(1, 4, 0, 1)
    return (Proof("KL is not symmetric", Source("000", "KL Divergence", 147),
                  "KL(N(0,1)||N(1,4)) = log 2 - 1/4, but KL(N(1,4)||N(0,1)) = 2 - log 2")
            .start(integral(p1 * sp.log(p1 / p2)))
            .eq(integral(p1 * gaussian.log_ratio(x, 0, 1, 1, 4)), "log(p/q) is a quadratic in x")
            .eq(sp.log(2) - sp.Rational(1, 4), "E_p of a quadratic: Gaussian moments",
                rewrites=[gaussian.moments_rule(x)])
            .ne(backward, f"the reverse direction, by the same moments, is {backward}"))


def variational_bound() -> Proof:
    fy = fenchel_young_generic(f, f_star, p / q, Tx)
    return (Proof("Variational lower bound", Source("002", "4. Variational (Dual) Representation", 284),
                  "D_f(P||Q) >= E_P[T] - E_Q[f*(T)] for every critic T", densities=[p, q])
            .start(integral(q * f(p / q)))
            .ge(integral(p * Tx - q * f_star(Tx)), fy, weight=q))


def _smooth(conjugate: sp.Expr) -> sp.Expr:
    return conjugate.args[-1][0] if isinstance(conjugate, sp.Piecewise) else conjugate


def _pieces(conjugate: sp.Expr, lo, hi) -> list[tuple[sp.Expr, sp.Expr, sp.Expr]]:
    """(branch, start, end) over dom f*."""
    if not isinstance(conjugate, sp.Piecewise):
        return [(conjugate, lo, hi)]
    out, start = [], lo
    for expr, cond in conjugate.args:
        end = hi if cond is sp.true else cond.rhs
        out.append((expr, start, end))
        start = end
    return out


@functools.cache
def conjugate_facts(name: str) -> Proof:
    """Fenchel-Young, equality at T* = f'(u), f* convex and f** = f for one catalogue f."""
    d = derivation(name)
    rng, dom = d.critic_range, d.conjugate_domain
    t_in = interval_point(rng.lower, rng.upper)  # a point of the critic range's interior
    if d.conjugate.has(sp.LambertW):  # t = 1 - w - log w runs over R as w > 0 does, and W(e^(1 - t)) = w
        w = sp.Symbol("w", positive=True)
        t_in = 1 - w - sp.log(w)
    u = sp.Symbol("u", positive=True)
    fp = d.optimal_critic  # f'(u), simplified by fdiv (checked against d/du f below)
    proof = Proof(f"Conjugate of {name}: Fenchel-Young, equality at T*, f** = f", Source("000", "Properties of Conjugate", 213),
                  f"f = {d.f}, f* = {d.conjugate} (fdiv). For t in the critic range r(t) = {d.ratio_from_critic} "
                  "inverts f', so f*(t) = t r(t) - f(r(t)); the tangent line of the convex f at r(t) gives "
                  "Fenchel-Young f(u) + f*(t) >= u t; f* is convex; t -> u t - f*(t) is concave with stationary "
                  "point t = f'(u) ((f*)'(f'(u)) = u), where its value is f(u): f** = f")
    if name == "total-variation":
        return _tv_facts(proof, d)
    fs, r = _smooth(d.conjugate), d.ratio_from_critic
    r_in = r.subs(T, t_in)
    proof.start(sp.Derivative(d.f, U)).eq(fp, "f'(u): fdiv's optimal critic is the derivative of f")
    proof.start(sp.Subs(fp, U, r_in)).eq(t_in, "r(t) inverts f' on the critic range")
    proof.start(sp.Add(t_in * r_in, -sp.Subs(d.f, U, r_in), evaluate=False)).eq(
        sp.Subs(fs, T, t_in), "f*(t) is the value of u t - f(u) at its maximiser u = r(t)")
    tangent = Lemma("tangent line of the convex f at r(t)",
                    d.f.subs(U, u) - d.f.subs(U, r.subs(T, t_in))
                    - fp.subs(U, r.subs(T, t_in)) * (u - r.subs(T, t_in)),
                    [convex(d.f, U, f"f = {d.f} convex on u > 0")])
    proof.start(d.f.subs(U, u) + fs.subs(T, t_in) - u * t_in).ge(0, tangent, "Fenchel-Young")
    proof.start(sp.Add(U * fp, -sp.Subs(fs, T, fp), evaluate=False)).eq(
        d.f, "equality at T* = f'(u) (f'(u) is in the critic range)")
    proof.start(sp.Subs(sp.Derivative(fs, T), T, fp)).eq(
        U, "(f*)'(f'(u)) = u: t = f'(u) is stationary for u t - f*(t)")
    pieces = _pieces(d.conjugate, dom.lower, dom.upper)
    for expr, a, b in pieces:
        if expr.has(T):
            proof.sign(sp.diff(expr, T, 2).subs(T, interval_point(a, b)), ">=",
                       f"f* convex on ({a}, {b}): (f*)'' >= 0")
    for (left, _, c), (right, _, _) in zip(pieces, pieces[1:]):
        proof.start(_value_at(left, c, "-")).eq(_value_at(right, c, "+"), f"f* continuous at t = {c}")
        proof.sign(one_sided(sp.diff(right, T), T, c, "+") - one_sided(sp.diff(left, T), T, c, "-"), ">=",
                   f"the slope of f* does not fall at t = {c}")
    return proof


def _value_at(branch: sp.Expr, c: sp.Expr, side: str) -> sp.Expr:
    """A branch of f* at t = c, shown as a substitution where it is finite there, else its one-sided limit."""
    return sp.Subs(branch, T, c) if branch.subs(T, c).is_finite else one_sided(branch, T, c, side)


def _tv_facts(proof: Proof, d) -> Proof:
    """TV: f* = t on (-1/2, 1/2], -1/2 below; the supremum of a linear function sits at a branch end."""
    u = sp.Symbol("u", positive=True)
    w = sp.Symbol("w", positive=True)
    t_in = w / (1 + w) - sp.Rational(1, 2)  # a point of (-1/2, 1/2)
    proof.start(d.f.subs(U, u) + t_in - u * t_in).ge(0, abs_bound((u - 1) / 2, 2 * t_in),
                                                     "Fenchel-Young on (-1/2, 1/2): |u - 1|/2 >= t (u - 1)")
    # f**(u) = sup_t (u t - f*(t)): linear on each branch of f*, so the supremum is at t = 1/2 or t = -1/2
    # (u t + 1/2 -> -oo as t -> -oo); the larger of the two values is f(u), for u >= 1 and for u <= 1
    half = sp.Rational(1, 2)
    for point, case in ((1 + w, "u = 1 + w >= 1"), (1 / (1 + w), "u = 1/(1 + w) <= 1")):
        proof.start(sp.Max(point * half - half, -point * half + half)).eq(
            d.f.subs(U, point), f"f**(u) for {case}: the larger of u t - f*(t) at t = 1/2 (u/2 - 1/2) and at "
                                "t = -1/2 (-u/2 + 1/2)")
    pieces = _pieces(d.conjugate, d.conjugate_domain.lower, d.conjugate_domain.upper)
    # both branches are linear ((f*)'' = 0): convex once the slope rises at the join
    for (left, _, c), (right, _, _) in zip(pieces, pieces[1:]):
        proof.start(_value_at(left, c, "-")).eq(_value_at(right, c, "+"), f"f* continuous at t = {c}")
        proof.sign(one_sided(sp.diff(right, T), T, c, "+") - one_sided(sp.diff(left, T), T, c, "-"), ">=",
                   f"the slope of f* does not fall at t = {c}")
    return proof


def variational_bound_catalogue() -> Proof:
    proof = Proof("Variational bound for every catalogue f", Source("002", "4. Variational (Dual) Representation", 284),
                  "for each f of the catalogue and every critic T(x) in the critic range (T = sigma_f(V)): "
                  "D_f(P||Q) >= E_P[T] - E_Q[f*(T)], from Fenchel-Young for that f (proved above)",
                  densities=[p, q])
    for name in catalogue.names():
        d = derivation(name)
        fs = _smooth(d.conjugate) if name != "total-variation" else T
        gap = d.f.subs(U, p / q) + fs.subs(T, Tx) - p / q * Tx
        lemma = by_proof(f"Fenchel-Young for {name}", gap, functools.partial(conjugate_facts, name))
        proof.start(integral(q * d.f.subs(U, p / q))).ge(integral(p * Tx - q * fs.subs(T, Tx)), lemma,
                                                          f"{name}", weight=q)
    return proof


def proofs() -> list[Proof]:
    out = [nonnegative(), nonnegative_catalogue(), zero_when_equal(), kl(), js(), tv(), kl_not_symmetric(),
           variational_bound(), variational_bound_catalogue()]
    out += [conjugate_facts(name) for name in catalogue.names()]
    return out
