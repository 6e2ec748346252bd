"""f-divergences (notes 000 "Variational Divergence Minimization", 002 §2 and §4, 003 "f-Divergence").

D_f(P||Q) = integral of q f(p/q); p, q positive densities. f is a generic convex function with f(1) = 0 where
the statement is general, and each catalogue f where it is about the catalogue.
"""
from __future__ import annotations

import sympy as sp


from fdiv import catalogue

from .derivations import derivation
from fdiv.conjugate import T
from fdiv.spec import U

from .engine import Lemma, Proof, Source, fenchel_young, gaussian_kl, integral, x

p = sp.Function("p", positive=True)(x)
q = sp.Function("q", positive=True)(x)
f = sp.Function("f")
f_star = sp.Function("f_star")
Tx = sp.Function("T", real=True)(x)
u, t = sp.symbols("u t", real=True)


def nonnegative() -> Proof:
    jensen_convex = Lemma("Jensen (convex f, expectation under q)",
                          integral(q * f(p / q)) - f(integral(q * p / q)),
                          [("f convex (hypothesis of an f-divergence)", lambda: True)])
    return (Proof("D_f >= 0", Source("003", "Properties of f-Divergence", 95),
                  "D_f(P||Q) >= 0 for every convex f with f(1) = 0", densities=[p, q])
            .start(integral(q * f(p / q)))
            .ge(f(integral(q * p / q)), jensen_convex)
            .eq(f(1), "q p/q = p, and p integrates to 1")
            .eq(0, "f(1) = 0 (hypothesis)", rewrites=[("f(1) = 0", {f(1): 0})]))


def zero_when_equal() -> Proof:
    return (Proof("D_f(P||P) = 0", Source("000", "Properties of f-Divergence (ii)", 137),
                  "D_f(P||Q) = 0 when p = q", densities=[p])
            .start(integral(p * f(p / p)))
            .eq(f(1) * integral(p), "p/p = 1")
            .eq(f(1), "p integrates to 1")
            .eq(0, "f(1) = 0", rewrites=[("f(1) = 0", {f(1): 0})]))


def _as_f_divergence(name: str, target: sp.Expr, title: str, source: Source) -> Proof:
    fu = derivation(name).f
    return (Proof(title, source, f"integral of q f(p/q) with f = {fu} equals {target}", densities=[p, q])
            .start(integral(q * fu.subs(U, p / q)))
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
    """KL(N(0,1)||N(1,4)) against KL(N(1,4)||N(0,1)), both from the Gaussian integral."""
    forward, backward = gaussian_kl(0, 1, 1, 4), gaussian_kl(1, 4, 0, 1)
    return (Proof("KL is not symmetric", Source("000", "KL Divergence", 147),
                  "KL(N(0,1)||N(1,4)) = log 2 - 1/4, but KL(N(1,4)||N(0,1)) = 2 - log 2")
            .start(forward)
            .eq(sp.log(2) - sp.Rational(1, 4), "Gaussian integral (SymPy integrate)")
            .ne(backward, "the reverse direction, by the same integral, is " + str(backward)))


def variational_bound() -> Proof:
    fy = fenchel_young(f(u), f_star(t), p / q, Tx, u, t, "definition of f* as a supremum")
    return (Proof("Variational lower bound", Source("002", "4. Variational (Dual) Representation", 284),
                  "D_f(P||Q) >= E_P[T] - E_Q[f*(T)] for every critic T", densities=[p, q])
            .start(integral(q * f(p / q)))
            .ge(integral(p * Tx - q * f_star(Tx)), fy, weight=q))


def equality_at_optimal_critic(name: str) -> Proof:
    d = derivation(name)
    fp = sp.diff(d.f, U)
    conj = d.conjugate.subs(T, fp)
    if isinstance(conj, sp.Piecewise):
        conj = sp.piecewise_fold(conj)
    return (Proof(f"Equality at T* = f'(p/q): {name}", Source("002", "4. Variational (Dual) Representation", 287),
                  f"u f'(u) - f*(f'(u)) = f(u) for u > 0, f = {d.f}")
            .start(U * fp - conj)
            .eq(d.f, "f* of the derivation evaluated on the critic range"))


def conjugate_convex(name: str) -> Proof:
    d = derivation(name)
    pieces = d.conjugate.args if isinstance(d.conjugate, sp.Piecewise) else ((d.conjugate, sp.true),)
    proof = Proof(f"f* convex and f** = f: {name}", Source("000", "Properties of Conjugate", 213),
                  "f* is convex on dom f*; the biconjugate f** equals f")
    dom = d.conjugate_domain
    s = sp.Symbol("s", positive=True)
    for expr, cond in pieces:
        second = sp.diff(expr, T, 2)
        at = second.subs(T, dom.upper - s) if dom.upper.is_finite else second.subs(T, sp.Symbol("t", real=True))
        ok = sp.simplify(at).is_nonnegative
        if ok is not True:  # SymPy's sign inference is incomplete: a 30-digit check on the branch instead
            from fdiv.numeric import mp_function, real_value, sample_points
            fn = mp_function(second, T)
            lo = dom.lower
            hi = cond.rhs if isinstance(cond, (sp.LessThan, sp.StrictLessThan)) else dom.upper
            values = [real_value(fn, v) for v in sample_points(lo, hi, 10)]
            values = [v for v in values if v is not None]
            proof.fact(f"(f*)'' >= 0 on the branch {expr}", bool(values) and min(values) >= 0,
                       f"numeric (30 digits, {len(values)} points)")
        else:
            proof.fact(f"(f*)'' = {sp.simplify(second)} >= 0 on the branch {expr}", True, "symbolic")
    bi = next(c for c in d.checks if c.name.startswith("biconjugate"))
    return proof.fact("f**(u) = f(u)", bi.passed, bi.method, bi.detail)


def proofs() -> list[Proof]:
    out = [nonnegative(), zero_when_equal(), kl(), js(), tv(), kl_not_symmetric(), variational_bound()]
    for name in catalogue.names():
        out.append(equality_at_optimal_critic(name))
    for name in catalogue.names():
        out.append(conjugate_convex(name))
    return out
